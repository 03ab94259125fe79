"""Entering, resuming, one person per study (or set), forward-only statuses, time limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from icelab.errors import ServiceError
from studies.models import Attempt, Participant
from studies.services import (
    AlreadyTookPart,
    Arrival,
    StudyNotOpen,
    participant_enter,
    participant_set_status,
    participants_expire,
    study_pause,
)


def arrival(worker="W1", assignment="A1", platform="mturk") -> Arrival:
    return Arrival(
        platform=platform,
        external_id=worker,
        attempt_id=assignment,
        platform_study_id="H1",
        turk_submit_to="https://www.mturk.com",
    )


def test_a_returning_person_resumes_their_own_record_with_a_new_attempt(study):
    first = participant_enter(study=study, arrival=arrival())
    again = participant_enter(study=study, arrival=arrival(assignment="A2"))
    same = participant_enter(study=study, arrival=arrival(assignment="A2"))
    assert first.pk == again.pk == same.pk and Participant.objects.count() == 1
    assert list(Attempt.objects.values_list("attempt_id", flat=True)) == ["A1", "A2"]


def test_a_new_participant_gets_tokens_a_seed_and_a_deadline(study):
    participant = participant_enter(study=study, arrival=arrival())
    assert participant.version == study.current_version and participant.page == 0
    assert len(participant.url_token) >= 40 and len(participant.form_token) >= 40
    assert participant.url_token != participant.form_token
    assert participant.deadline - participant.started_at == timedelta(minutes=60)


def test_the_same_person_on_another_platform_is_another_participant(study):
    participant_enter(study=study, arrival=arrival())
    participant_enter(study=study, arrival=arrival(platform="prolific"))
    assert Participant.objects.count() == 2


def test_one_person_per_set_of_studies(make_study):
    first = make_study("first", exclusive_set="series")
    second = make_study("second", exclusive_set="series", launch=False)
    for group in second.groups.all():  # the sets are shared; the second study reuses them
        assert group.stimulus_set.is_frozen
    from studies.services import study_launch

    second = study_launch(study=second)
    participant_enter(study=first, arrival=arrival())
    with pytest.raises(AlreadyTookPart):
        participant_enter(study=second, arrival=arrival())
    participant_enter(study=second, arrival=arrival(worker="W2"))
    # The database refuses it too, whatever code path writes.
    row = Participant.objects.get(external_id="W2")
    row.pk, row.study, row.url_token = None, first, "another-token"
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


def test_a_preview_or_a_paused_study_admits_nobody_new_but_resumes_the_started(study):
    with pytest.raises(ServiceError, match="preview"):
        participant_enter(study=study, arrival=Arrival(platform="mturk", preview=True))
    started = participant_enter(study=study, arrival=arrival())
    study_pause(study=study)
    with pytest.raises(StudyNotOpen):
        participant_enter(study=study, arrival=arrival(worker="W2"))
    assert participant_enter(study=study, arrival=arrival()).pk == started.pk


def test_statuses_only_move_forward(study):
    participant = participant_enter(study=study, arrival=arrival())
    with pytest.raises(ServiceError, match="needs the rule"):
        participant_set_status(participant=participant, status="excluded")
    participant = participant_set_status(participant=participant, status="returned")
    assert participant.ended_at is not None
    for status in ("started", "completed", "timed_out"):
        with pytest.raises(ServiceError, match="only move forward"):
            participant_set_status(participant=participant, status=status)


def test_a_completed_participant_can_still_be_excluded_with_the_rule(study):
    participant = participant_enter(study=study, arrival=arrival())
    participant = participant_set_status(participant=participant, status="completed")
    participant = participant_set_status(
        participant=participant, status="excluded", rule="failed review"
    )
    assert participant.status == "excluded" and participant.exclusion_rule == "failed review"
    assert participant.completed_at is not None


def test_expiry_times_out_the_late_and_keeps_their_rows(study):
    late = participant_enter(study=study, arrival=arrival())
    on_time = participant_enter(study=study, arrival=arrival(worker="W2"))
    assert participants_expire(study=study, now=timezone.now() + timedelta(minutes=30)) == 0
    assert participants_expire(study=study, now=timezone.now() + timedelta(minutes=61)) == 2
    late.refresh_from_db(), on_time.refresh_from_db()
    assert late.status == on_time.status == "timed_out"
    assert Participant.objects.count() == 2
