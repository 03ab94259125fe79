"""The one-pass value checks behind the reducers' input validation."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from explainers.ice.reducers._arrays import surely_finite_and_nonnegative, value_range


@pytest.fixture
def data() -> np.ndarray:
    return np.abs(np.random.default_rng(0).standard_normal((1000, 7))).astype(np.float32)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_value_range_is_min_and_max_and_propagates_nan(data, as_tensor):
    wrap = torch.from_numpy if as_tensor else (lambda a: a)
    assert value_range(wrap(data)) == (float(data.min()), float(data.max()))
    data[700, 3] = np.nan  # past the first row blocks
    low, high = value_range(wrap(data))
    assert math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.0, True),
        (1e38, True),
        (-0.0, False),
        (-1e-30, False),
        (np.inf, False),
        (-np.inf, False),
        (np.nan, False),
    ],
)
def test_the_bit_check_accepts_only_finite_non_negative_values(data, value, expected):
    data[500, 2] = value
    assert surely_finite_and_nonnegative(data) is expected


def test_the_bit_check_declines_what_it_cannot_read(data):
    # Not float32, or not contiguous: the caller's full check decides.
    assert surely_finite_and_nonnegative(data.astype(np.float64)) is False
    assert surely_finite_and_nonnegative(data[:, ::2]) is False
    assert surely_finite_and_nonnegative(torch.from_numpy(data)) is False


def test_read_only_input_is_used_without_a_warning():
    # Memory-mapped feature-bank arrays are read-only; the reducers only read them.
    # torch warns once per process, so the check runs in a fresh one.
    code = (
        "import numpy as np\n"
        "from explainers.ice import make_reducer\n"
        "X = np.abs(np.random.default_rng(0).standard_normal((200, 6))).astype(np.float32)\n"
        "X.setflags(write=False)\n"
        "make_reducer('nmf', 2, random_state=0, device='cpu').fit(X)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
