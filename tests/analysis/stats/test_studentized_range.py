"""The quadrature studentized range against scipy, and against the t distribution for k = 2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.stats.studentized_range import (
    studentized_range_cdf,
    studentized_range_ppf,
    studentized_range_sf,
)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("df", [1.5, 4.2, 17.1, 60.0, 900.0])
def test_cdf_matches_scipy(k, df):
    for q in (0.3, 1.5, 3.2, 5.0, 9.0):
        assert studentized_range_cdf(q, k, df) == pytest.approx(
            stats.studentized_range.cdf(q, k, df), abs=1e-9
        )


@pytest.mark.parametrize("df", [3.0, 250.0, 1e5, 1e7])
def test_two_groups_are_the_t_distribution(df):
    # Q = |T|·√2 for k = 2; exact at any df (scipy switches to an asymptotic form for huge df).
    for q in (0.5, 2.0, 3.5, 6.0):
        expected = 2 * stats.t.cdf(q / np.sqrt(2), df) - 1
        assert studentized_range_cdf(q, 2, df) == pytest.approx(expected, abs=1e-10)


def test_ppf_inverts_and_matches_scipy():
    for k, df in ((3, 17.1), (4, 6.5), (3, 2000.0)):
        q = studentized_range_ppf(0.95, k, df)
        assert q == pytest.approx(stats.studentized_range.ppf(0.95, k, df), rel=1e-8)
        assert studentized_range_sf(q, k, df) == pytest.approx(0.05, abs=1e-10)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        studentized_range_ppf(1.0, 3, 10)
    assert studentized_range_cdf(0.0, 3, 10) == 0.0
