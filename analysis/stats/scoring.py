"""Per-participant scores: accuracy, exclusion, bonus, response times, revisits, questionnaire.

- Accuracy: the share of *test* trials answered correctly (training trials show the
  answer, so they are never scored).
- Exclusion, in this order (the first rule that applies is recorded): the participant's
  status is not a completed one (when a status is given); no test responses; accuracy
  strictly below ``exclusion_threshold`` (the paper: below chance, 20% with five
  candidates). A participant exactly at the threshold is kept.
- Bonus: not excluded and accuracy at or above ``bonus_threshold``.
- Response times: median and mean ``rt_ms`` over test trials. Revisits: the sum of
  ``revisits`` over all trials (training trials reopened during the test phase).

Comparisons allow 1e-9 of floating-point slack, so 3/15 counts as exactly 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .frames import (
    COMPLETED,
    CORRECT,
    GROUP,
    ITEM,
    PARTICIPANT,
    PARTICIPANTS,
    PHASE,
    PLATFORM,
    POSITION,
    REDUCER,
    REVISITS,
    RT_MS,
    SCENARIO,
    STATUS,
    TEST,
    TRAINING,
    VALUE,
    VERSION_HASH,
    check_frame,
    check_questionnaire,
    check_responses,
    optional_column,
)

_SLACK = 1e-9
IDENTITY_COLUMNS = (PARTICIPANT, GROUP, SCENARIO, REDUCER)


@dataclass(frozen=True)
class ScoringRules:
    """The study's rules for exclusion and bonus.

    Attributes
    ----------
    exclusion_threshold : participants with test accuracy strictly below it are excluded
        (default 0.2: chance with five candidates).
    bonus_threshold : participants kept with test accuracy at or above it get the bonus.
    completed_statuses : statuses that count as a finished session (only used when the
        participants frame has a ``status`` column).
    """

    exclusion_threshold: float = 0.2
    bonus_threshold: float = 0.8
    completed_statuses: tuple[str, ...] = (COMPLETED,)

    def __post_init__(self) -> None:
        for name in ("exclusion_threshold", "bonus_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r} must be a share between 0 and 1.")

    def describe(self) -> str:
        """The rules in one sentence, for the methods paragraph."""
        statuses = ", ".join(repr(s) for s in self.completed_statuses)
        return (
            f"participants whose status is not {statuses} are excluded, then those without test "
            f"responses, then those with test accuracy below {self.exclusion_threshold:g}; "
            f"participants kept with test accuracy of at least {self.bonus_threshold:g} are "
            "flagged for the bonus"
        )


def participant_scores(
    responses: pd.DataFrame,
    participants: pd.DataFrame | None = None,
    *,
    rules: ScoringRules | None = None,
) -> pd.DataFrame:
    """One row per participant with their scores, exclusion and bonus.

    Parameters
    ----------
    responses : the responses frame (see :mod:`analysis.stats.frames`).
    participants : the participants frame; participants without responses are kept
        (and excluded for having none). When None, participants come from ``responses``.
    rules : exclusion and bonus thresholds (default :class:`ScoringRules`).

    Returns
    -------
    DataFrame with columns participant, group, scenario, reducer, version_hash, platform,
    status, n_training, n_test, n_correct, accuracy, rt_median_ms, rt_mean_ms, revisits,
    excluded, exclusion_rule ("" when kept), bonus; in the participants' order.
    """
    rules = rules or ScoringRules()
    check_responses(responses)
    roster = _roster(responses, participants)
    test = responses[responses[PHASE] == TEST]
    by_participant = test.groupby(PARTICIPANT, sort=False)
    correct = test[CORRECT].astype(bool)
    counts = pd.DataFrame(
        {
            "n_test": by_participant.size(),
            "n_correct": correct.groupby(test[PARTICIPANT], sort=False).sum(),
            "rt_median_ms": by_participant[RT_MS].median(),
            "rt_mean_ms": by_participant[RT_MS].mean(),
        }
    )
    training = (responses[PHASE] == TRAINING).groupby(responses[PARTICIPANT], sort=False).sum()
    revisits = pd.to_numeric(optional_column(responses, REVISITS, np.nan), errors="coerce")
    revisit_totals = revisits.groupby(responses[PARTICIPANT], sort=False).sum(min_count=1)

    scores = roster.join(counts, on=PARTICIPANT)
    scores["n_training"] = scores[PARTICIPANT].map(training).fillna(0).astype(np.int64)
    scores["n_test"] = scores["n_test"].fillna(0).astype(np.int64)
    scores["n_correct"] = scores["n_correct"].fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores["accuracy"] = scores["n_correct"] / scores["n_test"].replace(0, np.nan)
    scores["revisits"] = scores[PARTICIPANT].map(revisit_totals)
    _apply_rules(scores, rules)
    return scores[_SCORE_COLUMNS].reset_index(drop=True)


_SCORE_COLUMNS = [
    *IDENTITY_COLUMNS,
    VERSION_HASH,
    PLATFORM,
    STATUS,
    "n_training",
    "n_test",
    "n_correct",
    "accuracy",
    "rt_median_ms",
    "rt_mean_ms",
    "revisits",
    "excluded",
    "exclusion_rule",
    "bonus",
]


def _roster(responses: pd.DataFrame, participants: pd.DataFrame | None) -> pd.DataFrame:
    """Participants with their identity columns: from the participants frame, plus any
    participant seen only in the responses."""
    seen = responses.drop_duplicates(PARTICIPANT)
    from_responses = pd.DataFrame(
        {
            **{column: seen[column] for column in IDENTITY_COLUMNS},
            VERSION_HASH: optional_column(seen, VERSION_HASH, None),
        }
    )
    if participants is None:
        roster = from_responses
    else:
        check_frame(participants, PARTICIPANTS)
        if participants[PARTICIPANT].duplicated().any():
            dup = participants.loc[participants[PARTICIPANT].duplicated(), PARTICIPANT].iloc[0]
            raise ValueError(f"participants lists {dup!r} twice; give one row per participant.")
        extra = from_responses[~from_responses[PARTICIPANT].isin(participants[PARTICIPANT])]
        roster = pd.concat([participants, extra], ignore_index=True)
    for column in (VERSION_HASH, PLATFORM, STATUS):
        if column not in roster.columns:
            roster[column] = None
    return roster.reset_index(drop=True)


def _apply_rules(scores: pd.DataFrame, rules: ScoringRules) -> None:
    status = scores[STATUS]
    incomplete = status.notna() & ~status.isin(rules.completed_statuses)
    no_test = ~incomplete & (scores["n_test"] == 0)
    low = ~incomplete & ~no_test & (scores["accuracy"] < rules.exclusion_threshold - _SLACK)
    rule = pd.Series("", index=scores.index, dtype=object)
    rule[incomplete] = "status " + status[incomplete].astype(str).map(repr) + " is not completed"
    rule[no_test] = "no test responses"
    rule[low] = (
        "test accuracy "
        + scores.loc[low, "n_correct"].astype(str)
        + "/"
        + scores.loc[low, "n_test"].astype(str)
        + " = "
        + scores.loc[low, "accuracy"].map("{:.3f}".format)
        + f" < {rules.exclusion_threshold:g} (exclusion threshold)"
    )
    scores["exclusion_rule"] = rule
    scores["excluded"] = incomplete | no_test | low
    scores["bonus"] = ~scores["excluded"] & (
        scores["accuracy"] >= rules.bonus_threshold - _SLACK
    ).fillna(False)


def questionnaire_scores(questionnaire: pd.DataFrame) -> pd.DataFrame:
    """One row per participant, one numeric column per item (in first-seen item order).

    Items a participant did not answer are NaN.
    """
    check_questionnaire(questionnaire)
    values = questionnaire.assign(**{VALUE: pd.to_numeric(questionnaire[VALUE])})
    items = list(dict.fromkeys(values[ITEM]))
    wide = values.pivot(index=PARTICIPANT, columns=ITEM, values=VALUE)
    wide = wide.reindex(columns=items)
    wide.columns.name = None
    return wide.reset_index()


def accuracy_by_position(
    responses: pd.DataFrame, included: pd.Series | None = None
) -> pd.DataFrame:
    """Mean accuracy and median response time per group and test-trial position.

    Parameters
    ----------
    responses : the responses frame.
    included : optional boolean Series indexed by participant: keep only those True.

    Returns
    -------
    DataFrame with scenario, reducer, group, test_position (1 = first test trial),
    n, accuracy, rt_median_ms.
    """
    check_responses(responses)
    test = responses[responses[PHASE] == TEST]
    if included is not None:
        test = test[test[PARTICIPANT].map(included).fillna(False).astype(bool)]
    test = test.assign(
        test_position=test.groupby(PARTICIPANT)[POSITION].rank(method="first").astype("Int64"),
        correct_=test[CORRECT].astype(float),
    )
    table = test.groupby([SCENARIO, REDUCER, GROUP, "test_position"], sort=True).agg(
        n=("correct_", "size"), accuracy=("correct_", "mean"), rt_median_ms=(RT_MS, "median")
    )
    return table.reset_index()
