"""Scoring: accuracy on test trials only, exclusion and bonus rules on their edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.stats.scoring import (
    ScoringRules,
    accuracy_by_position,
    participant_scores,
    questionnaire_scores,
)


def responses_for(participant: str, test_correct: list[bool], *, training: int = 5, **extra):
    rows = []
    for i in range(training):
        rows.append(("training", i + 1, False))  # wrong training answers must not count
    for j, correct in enumerate(test_correct):
        rows.append(("test", training + j + 1, correct))
    return pd.DataFrame(
        {
            "participant": participant,
            "group": "RI-nmf",
            "scenario": "RI",
            "reducer": "nmf",
            "phase": [r[0] for r in rows],
            "position": [r[1] for r in rows],
            "trial_id": [f"t{r[1]}" for r in rows],
            "class_name": "car",
            "target_concept": "c1",
            "chosen_concept": ["c1" if r[2] else "c2" for r in rows],
            "correct": [r[2] for r in rows],
            "rt_ms": [1000 * r[1] for r in rows],
            **extra,
        }
    )


def test_accuracy_counts_test_trials_only():
    scores = participant_scores(responses_for("a", [True] * 12 + [False] * 3))
    row = scores.iloc[0]
    assert (row.n_training, row.n_test, row.n_correct) == (5, 15, 12)
    assert row.accuracy == pytest.approx(0.8)
    # Test trials sit at positions 6..20, rt = 1000 × position.
    assert row.rt_median_ms == 13_000 and row.rt_mean_ms == 13_000


@pytest.mark.parametrize(
    ("n_correct", "excluded", "bonus"),
    [
        (2, True, False),  # 2/15 = 0.133 < 0.2
        (3, False, False),  # 3/15 = 0.2 exactly: kept (strictly below is excluded)
        (11, False, False),  # 0.733 < 0.8
        (12, False, True),  # 12/15 = 0.8 exactly: bonus (at or above)
        (15, False, True),
    ],
)
def test_exclusion_and_bonus_edges(n_correct, excluded, bonus):
    answers = [True] * n_correct + [False] * (15 - n_correct)
    row = participant_scores(responses_for("a", answers), rules=ScoringRules()).iloc[0]
    assert bool(row.excluded) is excluded
    assert bool(row.bonus) is bonus
    if excluded:
        assert (
            row.exclusion_rule
            == f"test accuracy {n_correct}/15 = 0.133 < 0.2 (exclusion threshold)"
        )
    else:
        assert row.exclusion_rule == ""


def test_status_and_missing_responses_exclude_with_their_rule():
    responses = pd.concat([responses_for("a", [True] * 15), responses_for("b", [True] * 15)])
    participants = pd.DataFrame(
        {
            "participant": ["a", "b", "c"],
            "group": "RI-nmf",
            "scenario": "RI",
            "reducer": "nmf",
            "status": ["completed", "returned", "completed"],
        }
    )
    scores = participant_scores(responses, participants).set_index("participant")
    assert not scores.loc["a", "excluded"] and scores.loc["a", "bonus"]
    assert scores.loc["b", "exclusion_rule"] == "status 'returned' is not completed"
    assert not scores.loc["b", "bonus"]  # perfect, but not completed
    assert scores.loc["c", "exclusion_rule"] == "no test responses"
    assert scores.loc["c", "n_test"] == 0 and np.isnan(scores.loc["c", "accuracy"])


def test_custom_thresholds_and_invalid_ones():
    row = participant_scores(
        responses_for("a", [True] * 5 + [False] * 5, training=0),
        rules=ScoringRules(exclusion_threshold=0.6, bonus_threshold=0.5),
    ).iloc[0]
    assert row.excluded and not row.bonus
    with pytest.raises(ValueError, match="bonus_threshold=1.5"):
        ScoringRules(bonus_threshold=1.5)


def test_revisits_are_summed_and_bad_phases_refused():
    responses = responses_for("a", [True] * 3, training=2, revisits=[0, 0, 1, 2, 0])
    assert participant_scores(responses).iloc[0].revisits == 3
    with pytest.raises(ValueError, match="responses.phase has value"):
        participant_scores(responses.assign(phase="practice"))
    with pytest.raises(ValueError, match="missing column"):
        participant_scores(responses.drop(columns="rt_ms"))


def test_questionnaire_is_one_column_per_item():
    answers = pd.DataFrame(
        {
            "participant": ["a", "a", "b"],
            "item": ["confidence", "detail", "confidence"],
            "value": [5, 3, "7"],
        }  # fmt: skip
    )
    wide = questionnaire_scores(answers).set_index("participant")
    assert list(wide.columns) == ["confidence", "detail"]
    assert wide.loc["b", "confidence"] == 7 and np.isnan(wide.loc["b", "detail"])
    with pytest.raises(ValueError, match="answered item 'confidence' more than once"):
        questionnaire_scores(pd.concat([answers, answers.head(1)]))
    with pytest.raises(ValueError, match="must be numeric"):
        questionnaire_scores(answers.assign(value=["agree", 1, 2]))


def test_accuracy_by_position_numbers_test_trials_from_one():
    responses = pd.concat(
        [responses_for("a", [True, False, True]), responses_for("b", [True, True, False])]
    )
    table = accuracy_by_position(responses)
    assert table["test_position"].tolist() == [1, 2, 3]
    assert table["accuracy"].tolist() == [1.0, 0.5, 0.5]
    only_a = accuracy_by_position(responses, pd.Series({"a": True, "b": False}))
    assert only_a["accuracy"].tolist() == [1.0, 0.0, 1.0]
