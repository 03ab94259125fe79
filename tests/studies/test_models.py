"""Database constraints: the invariants hold whatever code writes the rows."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from studies.models import (
    Description,
    Participant,
    QuestionnaireAnswer,
    Study,
    TrialResponse,
)
from studies.services import participants_simulate


@pytest.fixture
def finished(study):
    participants_simulate(study=study, n=1, policy="oracle")
    return Participant.objects.get()


def refused(make_row) -> bool:
    try:
        with transaction.atomic():
            make_row()
    except IntegrityError:
        return True
    return False


def test_one_response_per_participant_and_trial(finished):
    response = TrialResponse.objects.first()

    def again():
        response.pk = None
        response.save()

    assert refused(again)


def test_one_description_per_concept_of_a_response_and_never_empty(finished):
    description = Description.objects.first()

    def again():
        description.pk = None
        description.save()

    def empty():
        Description.objects.filter(pk=Description.objects.last().pk).update(text="")

    assert refused(again) and refused(empty)


def test_likert_answers_are_1_to_5_and_one_per_item(finished):
    answer = QuestionnaireAnswer.objects.first()
    assert refused(lambda: QuestionnaireAnswer.objects.filter(pk=answer.pk).update(value=6))

    def again():
        answer.pk = None
        answer.save()

    assert refused(again)


def test_participant_status_invariants(finished):
    rows = Participant.objects.filter(pk=finished.pk)
    assert refused(lambda: rows.update(status="finished"))
    assert refused(lambda: rows.update(status="excluded", exclusion_rule=""))
    assert refused(lambda: rows.update(completed_at=None))
    assert refused(lambda: rows.update(deadline=finished.started_at))


def test_a_launched_study_has_a_version(study):
    assert refused(lambda: Study.objects.filter(pk=study.pk).update(current_version=None))
    assert refused(lambda: Study.objects.filter(pk=study.pk).update(exclusion_threshold=-0.1))
