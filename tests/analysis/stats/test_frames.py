"""The input schema: missing columns are named with the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.stats.frames import (
    PARTICIPANTS,
    RESPONSES,
    check_frame,
    check_responses,
    key_codes,
)


def test_a_missing_column_is_named_with_the_fix():
    frame = pd.DataFrame(columns=[c for c in RESPONSES.required if c != "chosen_concept"])
    with pytest.raises(
        ValueError, match=r"responses frame is missing column\(s\) \['chosen_concept'\]"
    ):
        check_frame(frame, RESPONSES)
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        check_frame([{"participant": 1}], PARTICIPANTS)


def test_correct_must_be_boolean():
    frame = pd.DataFrame({c: ["x"] for c in RESPONSES.required}).assign(phase="test")
    with pytest.raises(ValueError, match="responses.correct must be boolean"):
        check_responses(frame)
    assert check_responses(frame.assign(correct=1)) is not None


def test_key_codes_number_combinations_in_first_seen_order():
    frame = pd.DataFrame({"a": ["x", "y", "x", "y", "x"], "b": [1, 1, 1, 2, 2]})
    codes, keys = key_codes(frame, ["a", "b"])
    assert codes.tolist() == [0, 1, 0, 2, 3]
    assert keys.to_dict("list") == {"a": ["x", "y", "y", "x"], "b": [1, 1, 2, 2]}
