"""Creating, editing, launching, pausing and closing studies; frozen versions and their hashes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from explainers.models import FrozenStimulusSetError
from icelab.errors import ServiceError
from studies.defaults import DEFAULT_DEMOGRAPHICS, DEFAULT_QUESTIONNAIRE
from studies.models import Study, StudyVersion
from studies.services import (
    study_close,
    study_create,
    study_launch,
    study_pause,
    study_update,
)
from studies.services.versions import config_sha256


def test_it_creates_a_draft_with_one_group_per_set_and_the_defaults(make_study, stimulus_sets):
    study = make_study(launch=False)
    assert study.status == "draft" and study.current_version is None
    assert [g.stimulus_set for g in study.groups.all()] == stimulus_sets
    assert (
        study.questionnaire == DEFAULT_QUESTIONNAIRE and study.demographics == DEFAULT_DEMOGRAPHICS
    )
    assert study.exclusion_threshold == 0.2 and study.time_limit_minutes == 60
    assert {item["key"] for item in study.questionnaire} >= {"confidence", "satisfying", "detail"}


def test_a_missing_completion_code_is_generated(stimulus_sets):
    study = study_create(slug="coded", title="t", stimulus_sets=stimulus_sets[:1])
    assert len(study.code_completed) == 8 and study.code_completed.isalnum()


def test_launch_freezes_the_sets_and_a_version_with_its_hash(make_study):
    study = make_study()
    version = study.current_version
    assert study.status == "live" and version.number == 1
    assert version.sha256 == config_sha256(version.config)
    assert all(g.stimulus_set.is_frozen for g in study.groups.all())
    group = version.config["groups"][0]
    assert len(group["training"]) == 1 and len(group["test"]) == 3
    assert len(group["stimulus_set_sha256"]) == 64
    with pytest.raises(FrozenStimulusSetError):
        study.groups.first().stimulus_set.delete()


def test_editing_before_anyone_starts_keeps_the_version_and_after_makes_a_new_one(
    make_study, walker
):
    study = make_study()
    first = study.current_version
    study = study_update(study=study, instructions="New instructions.")
    assert study.current_version.pk == first.pk and study.current_version.number == 1
    walker.start(study)
    study = study_update(study=study, instructions="Newer instructions.")
    second = study.current_version
    assert second.number == 2 and second.sha256 != first.sha256
    first.refresh_from_db()
    assert first.config["instructions"] == "New instructions."  # what the first participant saw
    assert study.participants.get().version == first
    assert study_update(study=study, instructions="Newer instructions.").current_version == second


def test_n_test_limits_the_trials_and_cannot_exceed_the_set(make_study):
    study = make_study(n_test=2)
    assert all(len(g["test"]) == 2 for g in study.current_version.config["groups"])
    with pytest.raises(ServiceError, match="n_test=4 but stimulus set .* has 3 test trials"):
        study_update(study=study, n_test=4)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"questionnaire": [{"key": "A b", "text": "x"}]}, "needs a key of lower-case"),
        ({"questionnaire": [{"key": "a", "text": "x"}, {"key": "a", "text": "y"}]}, "repeats"),
        ({"demographics": [{"key": "age", "text": "Age", "kind": "date"}]}, "has kind 'date'"),
        ({"exclusion_threshold": 1.5}, "a share between 0 and 1"),
        ({"bonus_rule": {"amount": "1"}}, "min_accuracy"),
        ({"colour": "red"}, "unknown settings"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(stimulus_sets, config, message):
    with pytest.raises(ValidationError, match=message):
        study_create(slug="bad", title="t", stimulus_sets=stimulus_sets, **config)
    assert not Study.objects.exists()


def test_nobody_could_enter_without_a_platform_or_the_pilot_link(stimulus_sets):
    with pytest.raises(ServiceError, match="Nobody could enter"):
        study_create(slug="x", title="t", stimulus_sets=stimulus_sets, platforms=[])


def test_pause_resume_and_close_move_the_status(make_study):
    study = make_study()
    assert study_pause(study=study).status == "paused"
    assert study_launch(study=study).status == "live"
    assert study_close(study=study).status == "closed"
    with pytest.raises(ServiceError, match="closed and cannot be launched"):
        study_launch(study=study)
    with pytest.raises(ServiceError, match="closed"):
        study_update(study=study, title="again")
    assert StudyVersion.objects.count() == 1


def test_a_draft_cannot_be_paused(make_study):
    with pytest.raises(ServiceError, match="only a study that is live can become paused"):
        study_pause(study=make_study(launch=False))
