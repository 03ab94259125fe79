"""page_submit: one POST answers the current page once; stale, forged and invalid posts write nothing."""

from __future__ import annotations

from django.http import QueryDict

from studies.models import Participant, TrialResponse
from studies.pages import participant_flow
from studies.services import Arrival, Outcome, page_submit, participant_enter
from tests.studies.conftest import answer_for


def post(data: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    query.update(data)
    return query


def advance_to(participant, name):
    while participant_flow(participant).current.name != name:
        outcome = page_submit(
            participant=participant, page=participant.page, data=post(answer_for(participant))
        )
        assert outcome.outcome is Outcome.STORED
        participant.refresh_from_db()
    return participant


def test_it_stores_the_answer_and_moves_on_once(study):
    participant = participant_enter(
        study=study, arrival=Arrival(platform="prolific", external_id="P1", attempt_id="S1")
    )
    participant = advance_to(participant, "choice")
    page = participant.page
    first = page_submit(participant=participant, page=page, data=post({"choice": "2"}))
    again = page_submit(participant=participant, page=page, data=post({"choice": "4"}))
    assert (first.outcome, again.outcome) == (Outcome.STORED, Outcome.STALE)
    assert TrialResponse.objects.get().chosen_position == 2
    assert Participant.objects.get().page == page + 1


def test_invalid_forged_and_finished_posts_write_nothing(study):
    participant = participant_enter(
        study=study, arrival=Arrival(platform="prolific", external_id="P1", attempt_id="S1")
    )
    participant = advance_to(participant, "choice")
    page = participant.page
    invalid = page_submit(participant=participant, page=page, data=post({"choice": "9"}))
    assert invalid.outcome is Outcome.INVALID and "choice" in invalid.form.errors
    forged = page_submit(participant=participant, page=page + 3, data=post({"choice": "1"}))
    assert forged.outcome is Outcome.FORGED
    assert not TrialResponse.objects.exists() and Participant.objects.get().page == page
    participant = advance_to(participant, "completion")
    assert participant.status == "completed" and participant.completion_code == "DONE1234"
    done = page_submit(participant=participant, page=participant.page, data=post({}))
    assert done.outcome is Outcome.STALE
