"""The participant's path through the real pages, with every cookie dropped before each request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from explainers.models import Concept
from studies.models import (
    DemographicAnswer,
    Description,
    Event,
    Participant,
    QuestionnaireAnswer,
    TrialResponse,
)
from studies.pages import correct_position, participant_flow
from tests.studies.conftest import answer_for, descriptions, walk_to


def test_it_walks_every_page_in_the_declared_order_and_stores_each_answer_once(study, walker):
    url = walker.start(study)
    participant = Participant.objects.get()
    names = [page.name for page in participant_flow(participant).pages]
    assert names == (["consent", "instructions"] + ["choice", "describe"] * (1 + 3)) + [
        "questionnaire",
        "demographics",
        "completion",
    ]
    seen = []
    while True:
        participant.refresh_from_db()
        page = participant_flow(participant).current
        seen.append(page.name)
        if page.name == "completion":
            break
        reply = walker.answer(url, answer_for(participant))
        assert reply.status == 303 and reply.location == url
    assert seen == names
    participant.refresh_from_db()
    assert participant.status == "completed" and participant.completion_code == "DONE1234"
    assert TrialResponse.objects.filter(participant=participant).count() == 4
    assert TrialResponse.objects.filter(is_correct=True).count() == 4
    assert Description.objects.count() == 20
    assert QuestionnaireAnswer.objects.count() == 9
    assert DemographicAnswer.objects.get(item="age").value == "33"
    final = walker.get(url)
    assert final.status == 200 and "DONE1234" in final.html


def test_a_response_refers_to_concepts_by_key_in_the_order_shown(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    flow = participant_flow(participant)
    trial = flow.trials[flow.current.trial_id]
    walker.answer(url, {"choice": "2"})
    response = TrialResponse.objects.get()
    shown = [Concept.objects.get(pk=pk) for pk in response.shown_order]
    assert sorted(c.index for c in shown) == sorted(c["concept"] for c in trial.candidates)
    assert all(c.run_id == trial.run_id for c in shown)
    assert response.chosen_concept == shown[1] and response.chosen_position == 2
    assert response.is_correct == (shown[1].index == trial.target_concept)
    assert response.version == participant.version and response.phase == "training"
    walker.answer(url, {f"row{n}": f"word{n}" for n in range(1, 6)})
    for description in Description.objects.all():
        assert description.concept_id == response.shown_order[description.position - 1]
        assert description.text == f"word{description.position}"


def test_a_double_or_stale_post_is_stored_once_and_redirected(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    page = walker.get(url)
    form = {"page": page.field("page"), "form_token": page.field("form_token"), "choice": "1"}
    first, second = walker.post(url, form), walker.post(url, {**form, "choice": "3"})
    assert first.status == second.status == 303 and second.location == url
    response = TrialResponse.objects.get(participant=participant)
    assert response.chosen_position == 1
    # Back button: the consent page's form posted again now; nothing is written, no error.
    back = walker.post(url, {**form, "page": "0", "decision": "agree"})
    assert back.status == 303 and back.location == url
    participant.refresh_from_db()
    assert participant.page == int(form["page"]) + 1 and participant.status == "started"


def test_a_reload_shows_the_same_page_and_the_same_row_order(study, walker):
    url = walker.start(study)
    walk_to(walker, url, "choice")
    first, again = walker.get(url), walker.get(url)
    assert first.html == again.html


def test_training_shows_the_answer_after_the_choice_and_test_does_not(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    flow = participant_flow(participant)
    right = correct_position(participant=participant, trial=flow.trials[flow.current.trial_id])
    walker.answer(url, {"choice": str(right % 5 + 1)})
    feedback = walker.get(url).html
    assert f"The right answer was row {right}" in feedback
    walker.answer(url, descriptions())
    walker.answer(url, {"choice": "1"})  # first test trial
    assert "right answer" not in walker.get(url).html


def test_training_can_be_reopened_during_the_test_and_each_visit_is_logged(study, walker):
    url = walker.start(study)
    assert walker.get(url + "training/1/").status == 403  # not before the test phase
    participant = walk_to(walker, url, "choice")
    walker.answer(url, {"choice": "1"})
    walker.answer(url, descriptions())
    page = walker.get(url)
    assert 'href="' + url + 'training/1/"' in page.html
    for _ in range(2):
        review = walker.get(url + "training/1/")
        assert review.status == 200 and "the right answer was row" in review.html
    assert walker.get(url + "training/2/").status == 403
    revisits = Event.objects.filter(participant=participant, kind="revisit")
    assert revisits.count() == 2 and revisits.first().detail == {"training": 1}
    assert walker.get(url).html == page.html  # the position did not move


def test_response_time_is_measured_by_the_server_from_the_first_showing(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    walker.get(url)
    shown = timezone.now() - timedelta(seconds=7)
    Participant.objects.filter(pk=participant.pk).update(page_shown_at=shown)
    walker.get(url)  # a reload does not restart the clock
    walker.answer(url, {"choice": "1"})
    assert 7000 <= TrialResponse.objects.get().rt_ms < 60_000


def test_focus_loss_and_paste_counts_are_stored_as_events(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    walker.answer(url, {"choice": "1", "focus_losses": "3"})
    walker.answer(url, {**descriptions(), "focus_losses": "2", "pastes": "1"})
    events = [
        (e.kind, e.page, e.detail)
        for e in Event.objects.filter(participant=participant, kind__in=["focus_loss", "paste"])
    ]
    page = participant.page
    assert events == [
        ("focus_loss", page, {"count": 3}),
        ("focus_loss", page + 1, {"count": 2}),
        ("paste", page + 1, {"count": 1}),
    ]


def test_declining_consent_returns_the_participant_and_frees_the_slot(study, walker):
    url = walker.start(study)
    reply = walker.answer(url, {"decision": "decline"})
    assert reply.status == 303
    participant = Participant.objects.get()
    assert participant.status == "returned" and participant.exclusion_rule == "declined consent"
    assert "You have left the study" in walker.get(url).html


def test_below_chance_accuracy_excludes_with_the_rule_and_keeps_the_rows(make_study, walker):
    study = make_study(code_failed_attention="LOWACC99")
    url = walker.start(study)
    for _ in range(100):
        participant = Participant.objects.get()
        if participant.status != "started":
            break
        walker.answer(url, answer_for(participant, correct=False))
    assert participant.status == "excluded" and participant.completed_at is not None
    assert participant.exclusion_rule.startswith("test accuracy 0/3 (0%) below")
    assert participant.completion_code == "LOWACC99"
    assert TrialResponse.objects.filter(participant=participant).count() == 4
    assert "LOWACC99" in walker.get(url).html


def test_the_time_limit_is_kept_by_the_server(study, walker):
    url = walker.start(study)
    participant = walk_to(walker, url, "choice")
    Participant.objects.filter(pk=participant.pk).update(
        started_at=timezone.now() - timedelta(hours=2),
        deadline=timezone.now() - timedelta(minutes=1),
    )
    page = walker.get(url)
    assert "Time is up" in page.html
    participant.refresh_from_db()
    assert participant.status == "timed_out" and "time limit" in participant.exclusion_rule
    reply = walker.post(
        url, {"page": participant.page, "form_token": participant.form_token, "choice": "1"}
    )
    assert reply.status == 303 and not TrialResponse.objects.exists()


@pytest.mark.parametrize("platform", ["mturk", "prolific"])
def test_completion_goes_back_to_the_platform_only_after_the_last_answer(
    make_study, walker, platform
):
    study = make_study(allow_anonymous=False)
    params = (
        {
            "assignmentId": "ASSIGN1",
            "hitId": "HIT1",
            "workerId": "WORKER1",
            "turkSubmitTo": "https://workersandbox.mturk.com",
        }
        if platform == "mturk"
        else {"PROLIFIC_PID": "PID1", "STUDY_ID": "STUDY1", "SESSION_ID": "SESSION1"}
    )
    url = walker.start(study, params)
    participant = walk_to(walker, url, "demographics")
    assert "externalSubmit" not in walker.get(url).html and "DONE1234" not in walker.get(url).html
    last = walker.answer(url, {"age": "40"})
    page = walker.get(url)
    assert "DONE1234" in page.html
    if platform == "mturk":
        assert last.location == url
        assert 'action="https://workersandbox.mturk.com/mturk/externalSubmit"' in page.html
        assert 'name="assignmentId" value="ASSIGN1"' in page.html
    else:
        assert last.location == "https://app.prolific.com/submissions/complete?cc=DONE1234"
        assert last.location.replace("&", "&amp;") in page.html
    participant.refresh_from_db()
    assert participant.status == "completed"
