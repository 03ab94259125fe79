"""The input schema of the analysis: five tidy pandas frames, defined once.

Every function of :mod:`analysis.stats` takes these frames, so the Django side only has
to produce them (its selectors) and a notebook can build them by hand:

``responses``
    One row per trial response: ``participant``, ``group``, ``scenario``, ``reducer``,
    ``phase`` (``"training"`` or ``"test"``), ``position`` (1-based order within the
    participant's session), ``trial_id``, ``class_name``, ``target_concept``,
    ``chosen_concept``, ``correct`` (bool), ``rt_ms`` (time to the choice). Optional:
    ``version_hash``, ``shown_order`` (the candidate concepts top to bottom, e.g.
    ``"c3|c1|c5|c2|c4"``), ``revisits`` (training trials reopened during this trial).
``descriptions``
    One row per free-text description of a candidate concept: ``participant``,
    ``scenario``, ``reducer``, ``concept``, ``text``. Optional: ``group``, ``trial_id``.
``questionnaire``
    One row per answered item: ``participant``, ``item``, ``value`` (numeric, e.g. Likert).
``participants``
    One row per participant: ``participant``, ``group``, ``scenario``, ``reducer``.
    Optional: ``status`` (only ``"completed"`` ones are analysed when present),
    ``version_hash``, ``platform``.
``concepts`` (optional)
    One row per concept: ``scenario``, ``reducer``, ``concept``, ``class_name``,
    ``best_part`` (the synthetic dataset's part it highlights best). Optional:
    ``best_iou``.

A concept is identified by (``scenario``, ``reducer``, ``concept``), so concept ids
only need to be unique within one stimulus set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

PARTICIPANT = "participant"
GROUP = "group"
SCENARIO = "scenario"
REDUCER = "reducer"
PHASE = "phase"
POSITION = "position"
TRIAL_ID = "trial_id"
CLASS_NAME = "class_name"
TARGET_CONCEPT = "target_concept"
CHOSEN_CONCEPT = "chosen_concept"
CORRECT = "correct"
RT_MS = "rt_ms"
VERSION_HASH = "version_hash"
SHOWN_ORDER = "shown_order"
REVISITS = "revisits"
CONCEPT = "concept"
TEXT = "text"
ITEM = "item"
VALUE = "value"
STATUS = "status"
PLATFORM = "platform"
BEST_PART = "best_part"
BEST_IOU = "best_iou"

TRAINING = "training"
TEST = "test"
PHASES = (TRAINING, TEST)
COMPLETED = "completed"


@dataclass(frozen=True)
class FrameSpec:
    """The columns one input frame must have (``required``) and may have (``optional``)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


RESPONSES = FrameSpec(
    "responses",
    required=(
        PARTICIPANT,
        GROUP,
        SCENARIO,
        REDUCER,
        PHASE,
        POSITION,
        TRIAL_ID,
        CLASS_NAME,
        TARGET_CONCEPT,
        CHOSEN_CONCEPT,
        CORRECT,
        RT_MS,
    ),
    optional=(VERSION_HASH, SHOWN_ORDER, REVISITS),
)
DESCRIPTIONS = FrameSpec(
    "descriptions",
    required=(PARTICIPANT, SCENARIO, REDUCER, CONCEPT, TEXT),
    optional=(GROUP, TRIAL_ID),
)
QUESTIONNAIRE = FrameSpec("questionnaire", required=(PARTICIPANT, ITEM, VALUE))
PARTICIPANTS = FrameSpec(
    "participants",
    required=(PARTICIPANT, GROUP, SCENARIO, REDUCER),
    optional=(STATUS, VERSION_HASH, PLATFORM),
)
CONCEPTS = FrameSpec(
    "concepts",
    required=(SCENARIO, REDUCER, CONCEPT, CLASS_NAME, BEST_PART),
    optional=(BEST_IOU,),
)
SPECS = {
    spec.name: spec for spec in (RESPONSES, DESCRIPTIONS, QUESTIONNAIRE, PARTICIPANTS, CONCEPTS)
}


def check_frame(frame: object, spec: FrameSpec) -> pd.DataFrame:
    """Check that ``frame`` is a DataFrame with every column ``spec`` requires.

    Returns the frame unchanged (no copy). Raises ``TypeError`` for a non-frame and
    ``ValueError`` naming the missing columns and the fix.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{spec.name} must be a pandas DataFrame with columns {list(spec.required)}; "
            f"got {type(frame).__name__}."
        )
    missing = [column for column in spec.required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"the {spec.name} frame is missing column(s) {missing}; it needs "
            f"{list(spec.required)} (optional: {list(spec.optional)}). Rename or add them "
            f"(see analysis.stats.frames.{spec.name.upper()})."
        )
    return frame


def check_responses(frame: object) -> pd.DataFrame:
    """:func:`check_frame` for responses, plus valid phases and a boolean-like ``correct``."""
    frame = check_frame(frame, RESPONSES)
    bad_phases = sorted(set(frame[PHASE].dropna().unique()) - set(PHASES), key=str)
    if bad_phases:
        raise ValueError(
            f"responses.phase has value(s) {bad_phases}; use {list(PHASES)} "
            "(training trials are shown with the answer, test trials are scored)."
        )
    if frame[PHASE].isna().any():
        raise ValueError("responses.phase is missing on some rows; set 'training' or 'test'.")
    _check_boolean(frame[CORRECT], "responses.correct")
    return frame


def check_questionnaire(frame: object) -> pd.DataFrame:
    """:func:`check_frame` for the questionnaire, plus numeric values and one answer per item."""
    frame = check_frame(frame, QUESTIONNAIRE)
    values = pd.to_numeric(frame[VALUE], errors="coerce")
    bad = frame.loc[values.isna() & frame[VALUE].notna(), VALUE]
    if len(bad):
        raise ValueError(
            f"questionnaire.value must be numeric (e.g. a Likert score); got {bad.iloc[0]!r}. "
            "Map answer labels to numbers before the analysis."
        )
    duplicated = frame.duplicated([PARTICIPANT, ITEM], keep=False)
    if duplicated.any():
        row = frame.loc[duplicated].iloc[0]
        raise ValueError(
            f"participant {row[PARTICIPANT]!r} answered item {row[ITEM]!r} more than once; "
            "pass one answer per participant and item (the final one)."
        )
    return frame


def key_codes(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer codes of the distinct combinations of ``columns`` (first-seen order), and the
    combinations themselves.

    Each column is factorised on its own and the codes are combined arithmetically, which
    is several times faster than hashing tuples of strings on a million rows.
    """
    columns = list(columns)
    combined = np.zeros(len(frame), dtype=np.int64)
    levels = []
    for column in columns:
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=False)
        combined = combined * max(len(uniques), 1) + codes
        levels.append(uniques)
    codes, combos = pd.factorize(combined)
    first = np.zeros(len(combos), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # first row of each combination
    keys = frame.iloc[first][columns].reset_index(drop=True)
    return codes.astype(np.int64), keys


def optional_column(frame: pd.DataFrame, column: str, default: object) -> pd.Series:
    """``frame[column]`` when present, else a column filled with ``default``."""
    if column in frame.columns:
        return frame[column]
    return pd.Series(default, index=frame.index, name=column)


def empty_frame(spec: FrameSpec, extra: Iterable[str] = ()) -> pd.DataFrame:
    """An empty frame with the spec's required columns (for inputs the caller does not have)."""
    return pd.DataFrame(columns=[*spec.required, *extra])


def _check_boolean(series: pd.Series, name: str) -> None:
    if series.dtype == bool:
        return
    values = set(series.dropna().unique().tolist())
    if not values <= {0, 1}:  # True == 1 and False == 0 in a set
        raise ValueError(f"{name} must be boolean (True/False or 1/0); got {sorted(values)[:5]}.")
    if series.isna().any():
        raise ValueError(f"{name} is missing on some rows; every response is right or wrong.")
