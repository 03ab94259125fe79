"""The simulated study has the input frames' shape and is reproducible from its seed."""

from __future__ import annotations

import pandas as pd

from analysis.stats.frames import (
    CONCEPTS,
    DESCRIPTIONS,
    PARTICIPANTS,
    QUESTIONNAIRE,
    check_frame,
    check_questionnaire,
    check_responses,
)
from analysis.stats.simulated_study import simulated_study


def test_it_has_the_input_shape_and_the_protocol():
    study = simulated_study(18, seed=1)
    check_responses(study.responses)
    for frame, spec in (
        (study.descriptions, DESCRIPTIONS),
        (study.participants, PARTICIPANTS),
        (study.concepts, CONCEPTS),
        (study.questionnaire, QUESTIONNAIRE),
    ):
        check_frame(frame, spec)
    check_questionnaire(study.questionnaire)
    per_participant = study.responses.groupby("participant")["phase"].value_counts().unstack()
    assert (per_participant["training"] == 5).all() and (per_participant["test"] == 15).all()
    assert len(study.descriptions) == 18 * 20 * 5
    # Every target and chosen concept is a known concept of the participant's group.
    known = set(study.concepts["concept"])
    assert set(study.responses["target_concept"]) <= known
    assert set(study.responses["chosen_concept"]) <= known
    correct = study.responses["target_concept"] == study.responses["chosen_concept"]
    assert (correct == study.responses["correct"]).all()


def test_the_same_seed_gives_the_same_frames():
    first, second = simulated_study(9, seed=4), simulated_study(9, seed=4)
    pd.testing.assert_frame_equal(first.responses, second.responses)
    pd.testing.assert_frame_equal(first.descriptions, second.descriptions)
    assert not simulated_study(9, seed=5).responses.equals(first.responses)
