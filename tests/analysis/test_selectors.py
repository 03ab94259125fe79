"""analysis.selectors: the study's data as the frames analysis.stats takes, in a fixed number of queries."""

from __future__ import annotations

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analysis.selectors import participant_key, study_frames
from analysis.stats.frames import (
    CONCEPTS,
    DESCRIPTIONS,
    PARTICIPANTS,
    check_frame,
    check_questionnaire,
    check_responses,
)
from explainers.models import Concept
from studies.models import Description, Event, Participant, QuestionnaireAnswer, TrialResponse
from studies.services import participants_simulate


def _key(participant: Participant) -> str:
    return participant_key(participant.platform, participant.external_id)


def test_the_frames_have_the_schema_of_analysis_stats(taken_study):
    frames = study_frames(study=taken_study)
    check_responses(frames.responses)
    check_questionnaire(frames.questionnaire)
    check_frame(frames.descriptions, DESCRIPTIONS)
    check_frame(frames.participants, PARTICIPANTS)
    check_frame(frames.concepts, CONCEPTS)


def test_every_response_row_matches_its_database_row(taken_study):
    frame = study_frames(study=taken_study).responses
    responses = TrialResponse.objects.filter(participant__study=taken_study).select_related(
        "participant__group__stimulus_set__scenario", "trial", "version"
    )
    assert len(frame) == responses.count() > 0
    rows = frame.set_index(["participant", "trial_id"])
    for response in responses:
        participant = response.participant
        row = rows.loc[(_key(participant), response.trial_id)]
        config_group = next(
            g for g in response.version.config["groups"] if g["id"] == participant.group_id
        )
        target = Concept.objects.get(run=response.trial.run, index=response.trial.target_concept)
        assert row["group"] == participant.group.label
        assert row["scenario"] == participant.group.stimulus_set.scenario.name
        assert row["reducer"] == participant.group.stimulus_set.reducer
        assert row["phase"] == response.phase == response.trial.phase
        assert row["position"] == 1 + (config_group["training"] + config_group["test"]).index(
            response.trial_id
        )
        assert row["class_name"] == response.trial.class_name
        assert row["target_concept"] == target.pk
        assert row["chosen_concept"] == response.chosen_concept_id
        assert row["shown_order"] == "|".join(map(str, response.shown_order))
        # The row picked is where the chosen concept was shown.
        assert response.shown_order[row["chosen_position"] - 1] == response.chosen_concept_id
        assert (
            bool(row["correct"]) == response.is_correct == (target.pk == response.chosen_concept_id)
        )
        assert row["rt_ms"] == response.rt_ms
        assert row["version_hash"] == response.version.sha256


def test_participants_descriptions_and_questionnaire_match_the_database(taken_study):
    frames = study_frames(study=taken_study)
    people = Participant.objects.filter(study=taken_study).select_related("group", "version")
    expected = {
        _key(p): (p.group.label, p.status, p.exclusion_rule, p.platform, p.version.sha256)
        for p in people
    }
    got = {
        row.participant: (row.group, row.status, row.exclusion_rule, row.platform, row.version_hash)
        for row in frames.participants.itertuples()
    }
    assert got == expected
    assert "excluded" in {status for _, status, *_ in expected.values()}  # random bots fail

    descriptions = Description.objects.filter(response__participant__study=taken_study)
    assert sorted(
        zip(frames.descriptions["concept"], frames.descriptions["text"], strict=True)
    ) == sorted(descriptions.values_list("concept_id", "text"))
    answers = QuestionnaireAnswer.objects.filter(participant__study=taken_study)
    assert sorted(
        zip(frames.questionnaire["item"], frames.questionnaire["value"], strict=True)
    ) == sorted(answers.values_list("item", "value"))


def test_concepts_are_those_the_trials_draw_on_with_their_run(taken_study):
    concepts = study_frames(study=taken_study).concepts
    shown = {
        c for order in TrialResponse.objects.values_list("shown_order", flat=True) for c in order
    }
    assert shown <= set(concepts["concept"])
    some = Concept.objects.select_related("run").get(pk=concepts["concept"].iloc[0])
    row = concepts.iloc[0]
    assert (row["reducer"], row["class_name"]) == (some.run.reducer, some.run.class_name)


def test_a_revisit_counts_for_the_test_trial_on_screen(taken_study):
    frame = study_frames(study=taken_study).responses
    assert frame["revisits"].sum() == 0  # the bots never reopen a training trial
    response = TrialResponse.objects.filter(participant__study=taken_study, phase="test").first()
    participant = response.participant
    config_group = next(
        g for g in participant.version.config["groups"] if g["id"] == participant.group_id
    )
    # Pages: consent, instructions, (choice, describe) per training trial, then per test trial.
    test_index = config_group["test"].index(response.trial_id)
    choice_page = 2 + 2 * len(config_group["training"]) + 2 * test_index
    for page in (choice_page, choice_page, choice_page + 1):
        Event.objects.create(participant=participant, kind=Event.Kind.REVISIT, page=page)
    frame = study_frames(study=taken_study).responses
    row = frame.set_index(["participant", "trial_id"]).loc[(_key(participant), response.trial_id)]
    assert row["revisits"] == 3 and frame["revisits"].sum() == 3


def test_the_number_of_queries_does_not_grow_with_the_participants(make_study):
    study = make_study(slug="growing")
    participants_simulate(study=study, n=2, policy="random", seed=5)
    with CaptureQueriesContext(connection) as few:
        study_frames(study=study)
    participants_simulate(study=study, n=10, policy="labels", seed=6)
    with CaptureQueriesContext(connection) as many:
        frames = study_frames(study=study)
    assert len(frames.participants) == 12
    assert len(many.captured_queries) == len(few.captured_queries)


def test_all_frames_take_at_most_eight_queries(taken_study, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        study_frames(study=taken_study)


def test_a_study_without_participants_gives_empty_frames_with_the_columns(make_study):
    frames = study_frames(study=make_study(slug="empty"))
    assert frames.responses.empty and frames.participants.empty
    assert set(PARTICIPANTS.required) <= set(frames.participants.columns)
    assert isinstance(frames.descriptions, pd.DataFrame)
    assert not frames.concepts.empty  # the stimulus sets' concepts exist before anyone takes part


@pytest.mark.parametrize("platform", ["prolific", "mturk"])
def test_the_raw_id_is_platform_and_external_id(platform):
    assert participant_key(platform, "A1B2") == f"{platform}:A1B2"
