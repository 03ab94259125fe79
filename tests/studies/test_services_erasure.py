"""participant_delete: one person's rows go, in one transaction; everyone else's stay as they were."""

from __future__ import annotations

import pytest
from django.utils import timezone

from icelab.errors import ServiceError
from studies.models import (
    Attempt,
    BonusPayment,
    DemographicAnswer,
    Description,
    Event,
    Participant,
    QuestionnaireAnswer,
    TrialResponse,
)
from studies.services import ParticipantNotFound, participant_delete
from tests.studies.conftest import walk_to

MODELS = (
    Participant,
    Attempt,
    TrialResponse,
    Description,
    QuestionnaireAnswer,
    DemographicAnswer,
    Event,
)


def prolific(pid: str) -> dict[str, str]:
    return {"PROLIFIC_PID": pid, "STUDY_ID": "S1", "SESSION_ID": f"session-{pid}"}


def rows_of(participant_id: int) -> dict[str, list]:
    """Every row about one participant, as tuples, so a change to any of them shows."""
    return {
        "participant": list(Participant.objects.filter(pk=participant_id).values_list()),
        "attempts": list(Attempt.objects.filter(participant=participant_id).values_list()),
        "responses": list(TrialResponse.objects.filter(participant=participant_id).values_list()),
        "descriptions": list(
            Description.objects.filter(response__participant=participant_id).values_list()
        ),
        "questionnaire": list(
            QuestionnaireAnswer.objects.filter(participant=participant_id).values_list()
        ),
        "demographics": list(
            DemographicAnswer.objects.filter(participant=participant_id).values_list()
        ),
        "events": list(Event.objects.filter(participant=participant_id).values_list()),
    }


def bonus(study, **fields) -> BonusPayment:
    # The ledger's own service commits and refuses to run in a test's transaction.
    return BonusPayment.objects.create(
        platform="prolific",
        study_key=study.slug,
        worker_id="PID-GONE",
        assignment_id="session-PID-GONE",
        amount="0.50",
        reason="accuracy bonus",
        unique_request_token="t" * 64,
        **fields,
    )


@pytest.fixture
def two_finished(study, walker):
    """Two Prolific participants who both answered every page up to the completion page."""
    people = []
    for pid in ("PID-KEEP", "PID-GONE"):
        url = walker.start(study, prolific(pid))
        people.append(walk_to(walker, url, "completion"))
    return people


def test_it_deletes_every_row_about_the_person_and_nothing_else(study, two_finished):
    keep, gone = two_finished
    kept_before = rows_of(keep.pk)
    assert all(kept_before.values()) and all(rows_of(gone.pk).values())
    deletion = participant_delete(study=study, platform="prolific", external_id="PID-GONE")
    assert not any(rows_of(gone.pk).values())
    assert rows_of(keep.pk) == kept_before
    assert deletion.deleted["participants"] == 1
    # Both walked the same pages with the same answers: as many rows of each kind.
    assert deletion.deleted["descriptions"] == len(kept_before["descriptions"]) > 0
    assert deletion.deleted["trial_responses"] == len(kept_before["responses"])
    assert not Participant.objects.filter(external_id="PID-GONE").exists()


def test_bonus_payments_keep_their_amount_but_lose_the_ids(study, two_finished):
    paid = bonus(study, status="paid", paid_at=timezone.now())
    deletion = participant_delete(study=study, platform="prolific", external_id="PID-GONE")
    paid.refresh_from_db()
    assert deletion.payments_anonymised == 1
    assert str(paid.amount) == "0.50" and paid.status == "paid"
    assert "PID-GONE" not in (paid.worker_id + paid.assignment_id)


def test_an_unsettled_payment_stops_it_and_nothing_is_deleted(study, two_finished):
    bonus(study, status="pending")
    counts = [model.objects.count() for model in MODELS]
    with pytest.raises(ServiceError, match="not settled"):
        participant_delete(study=study, platform="prolific", external_id="PID-GONE")
    assert [model.objects.count() for model in MODELS] == counts


def test_an_unknown_person_is_named_in_the_error(study, two_finished):
    with pytest.raises(ParticipantNotFound, match="prolific:'PID-NOBODY'"):
        participant_delete(study=study, platform="prolific", external_id="PID-NOBODY")
    with pytest.raises(ParticipantNotFound):  # the same id on another platform is someone else
        participant_delete(study=study, platform="mturk", external_id="PID-GONE")


def test_the_person_may_take_part_again_afterwards(study, walker, two_finished):
    participant_delete(study=study, platform="prolific", external_id="PID-GONE")
    walker.start(study, prolific("PID-GONE"))
    assert Participant.objects.get(external_id="PID-GONE").page == 0
