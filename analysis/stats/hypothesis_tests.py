"""Between-group tests: the paper's (one-way ANOVA, pairwise t-tests with Bonferroni
correction) and, for robustness, Levene's test, Welch's ANOVA and Games–Howell.

Every function takes ``groups``: a mapping from a group name (e.g. a reducer) to its
values (one per participant). Each group needs at least two values; missing values must
be dropped by the caller (the report does, and says how many).

Formulas (k groups, n_i values, mean m_i, sample variance s_i², N = Σ n_i):

- One-way ANOVA: F = [Σ n_i (m_i − m)² / (k − 1)] / [Σ (n_i − 1) s_i² / (N − k)], with
  df (k − 1, N − k); η² = SS_between / SS_total.
- Student's t (``equal_var=True``): t = (m_a − m_b) / (s_p √(1/n_a + 1/n_b)) with the pooled
  s_p of the two groups and df n_a + n_b − 2; Welch's t otherwise. Cohen's d uses the
  pooled sd of the two groups in both cases. Bonferroni: min(1, m·p) with m pairs.
- Welch's ANOVA (Welch 1951), Games–Howell (1976) with the studentized range distribution.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from .studentized_range import studentized_range_ppf, studentized_range_sf

CORRECTIONS = ("bonferroni", "holm", "none")


@dataclass(frozen=True)
class AnovaResult:
    """A one-way test across groups.

    Attributes
    ----------
    test : "one-way ANOVA" or "Welch's ANOVA".
    f, p : the statistic and its p-value (NaN when undefined, e.g. no variance at all).
    df_between, df_within : numerator and denominator degrees of freedom.
    eta_squared : SS_between / SS_total (NaN for Welch's ANOVA).
    n : group name -> number of values.
    """

    test: str
    f: float
    p: float
    df_between: float
    df_within: float
    eta_squared: float
    n: dict[str, int]


@dataclass(frozen=True)
class LeveneResult:
    """Levene's test of equal variances (Brown–Forsythe when ``center="median"``)."""

    statistic: float
    p: float
    df_between: int
    df_within: int
    center: str


def check_groups(groups: Mapping[str, ArrayLike], *, at_least: int = 2) -> dict[str, np.ndarray]:
    """The groups as float arrays; raises naming the group and the fix when one is unusable."""
    if not isinstance(groups, Mapping):
        raise TypeError("groups must map a group name to its values, e.g. {'nmf': [...], ...}.")
    if len(groups) < at_least:
        raise ValueError(
            f"need at least {at_least} groups to compare; got {len(groups)} ({list(groups)})."
        )
    arrays = {}
    for name, values in groups.items():
        array = np.asarray(values, dtype=np.float64).ravel()
        if not np.isfinite(array).all():
            raise ValueError(
                f"group {name!r} has missing or infinite values; drop them before testing."
            )
        if array.size < 2:
            raise ValueError(
                f"group {name!r} has {array.size} value(s); each group needs at least two "
                "(leave the group out or collect more participants)."
            )
        arrays[str(name)] = array
    return arrays


def one_way_anova(groups: Mapping[str, ArrayLike]) -> AnovaResult:
    """Fisher's one-way ANOVA across ``groups`` with η² (see module docstring)."""
    arrays = check_groups(groups)
    values = np.concatenate(list(arrays.values()))
    grand = values.mean()
    k, total = len(arrays), values.size
    ss_between = sum(a.size * (a.mean() - grand) ** 2 for a in arrays.values())
    ss_within = sum(((a - a.mean()) ** 2).sum() for a in arrays.values())
    df_between, df_within = k - 1, total - k
    if df_within == 0 or ss_within == 0:
        f = np.inf if ss_between > 0 else np.nan
    else:
        f = (ss_between / df_between) / (ss_within / df_within)
    p = float(stats.f.sf(f, df_between, df_within)) if df_within > 0 and not np.isnan(f) else np.nan
    ss_total = ss_between + ss_within
    eta = ss_between / ss_total if ss_total > 0 else np.nan
    return AnovaResult(
        "one-way ANOVA", float(f), p, df_between, df_within, float(eta), _sizes(arrays)
    )


def welch_anova(groups: Mapping[str, ArrayLike]) -> AnovaResult:
    """Welch's heteroscedastic one-way ANOVA (NaN when a group has zero variance)."""
    arrays = check_groups(groups)
    n = np.array([a.size for a in arrays.values()], dtype=np.float64)
    means = np.array([a.mean() for a in arrays.values()])
    variances = np.array([a.var(ddof=1) for a in arrays.values()])
    k = len(arrays)
    if (variances == 0).any():
        return AnovaResult("Welch's ANOVA", np.nan, np.nan, k - 1, np.nan, np.nan, _sizes(arrays))
    weights = n / variances
    total = weights.sum()
    weighted_mean = (weights * means).sum() / total
    between = (weights * (means - weighted_mean) ** 2).sum() / (k - 1)
    lam = ((1 - weights / total) ** 2 / (n - 1)).sum()
    f = between / (1 + 2 * (k - 2) / (k**2 - 1) * lam)
    df_within = (k**2 - 1) / (3 * lam)
    p = float(stats.f.sf(f, k - 1, df_within))
    return AnovaResult(
        "Welch's ANOVA", float(f), p, k - 1, float(df_within), np.nan, _sizes(arrays)
    )


def levene_test(groups: Mapping[str, ArrayLike], *, center: str = "median") -> LeveneResult:
    """Levene's test of equal variances; ``center="median"`` is the robust Brown–Forsythe form."""
    arrays = check_groups(groups)
    if center not in ("median", "mean"):
        raise ValueError(f"center={center!r}; use 'median' (robust) or 'mean' (Levene's original).")
    with np.errstate(invalid="ignore", divide="ignore"):
        result = stats.levene(*arrays.values(), center=center)
    total = sum(a.size for a in arrays.values())
    return LeveneResult(
        float(result.statistic), float(result.pvalue), len(arrays) - 1, total - len(arrays), center
    )


# The columns of a pairwise t-test table, in order (Table 1's pair rows reuse them).
TTEST_COLUMNS = [
    "group_a",
    "group_b",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "difference",
    "t",
    "df",
    "p",
    "p_corrected",
    "cohens_d",
    "ci_low",
    "ci_high",
]


def pairwise_ttests(
    groups: Mapping[str, ArrayLike],
    correction: str = "bonferroni",
    equal_var: bool = True,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Two-sample t-tests for every pair of groups, in the order the groups are given.

    Parameters
    ----------
    groups : group name -> values.
    correction : "bonferroni" (the paper), "holm" or "none"; applied over all pairs.
    equal_var : Student's t (True, the paper) or Welch's t (False).
    confidence : level of the confidence interval of the difference of means.

    Returns
    -------
    DataFrame, one row per pair (a, b): group_a, group_b, n_a, n_b, mean_a, mean_b,
    difference (mean_a − mean_b), t, df, p, p_corrected, cohens_d, ci_low, ci_high.
    """
    arrays = check_groups(groups)
    if correction not in CORRECTIONS:
        raise ValueError(f"correction={correction!r}; use one of {CORRECTIONS}.")
    rows = [_ttest_row(a, b, arrays, equal_var, confidence) for a, b in _pairs(arrays)]
    table = pd.DataFrame(rows)
    table["p_corrected"] = correct_pvalues(table["p"].to_numpy(), correction)
    return table[TTEST_COLUMNS]


def _ttest_row(a: str, b: str, arrays: dict, equal_var: bool, confidence: float) -> dict:
    x, y = arrays[a], arrays[b]
    nx, ny = x.size, y.size
    vx, vy = x.var(ddof=1), y.var(ddof=1)
    difference = x.mean() - y.mean()
    pooled = ((nx - 1) * vx + (ny - 1) * vy) / (nx + ny - 2)
    if equal_var:
        se = np.sqrt(pooled * (1 / nx + 1 / ny))
        df = nx + ny - 2.0
    else:
        se = np.sqrt(vx / nx + vy / ny)
        df = se**4 / ((vx / nx) ** 2 / (nx - 1) + (vy / ny) ** 2 / (ny - 1)) if se > 0 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        t = difference / se
        d = difference / np.sqrt(pooled)
    p = (
        float(2 * stats.t.sf(abs(t), df))
        if np.isfinite(t)
        else (0.0 if se == 0 and difference else np.nan)
    )
    half = stats.t.ppf(0.5 + confidence / 2, df) * se if np.isfinite(df) else np.nan
    return {
        "group_a": a,
        "group_b": b,
        "n_a": nx,
        "n_b": ny,
        "mean_a": x.mean(),
        "mean_b": y.mean(),
        "difference": difference,
        "t": float(t),
        "df": float(df),
        "p": p,
        "cohens_d": float(d),
        "ci_low": difference - half,
        "ci_high": difference + half,
    }


def correct_pvalues(p: ArrayLike, correction: str) -> np.ndarray:
    """Family-wise corrected p-values: Bonferroni min(1, m·p), Holm's step-down, or none."""
    p = np.asarray(p, dtype=np.float64)
    m = int(np.isfinite(p).sum())
    if correction == "none" or m == 0:
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(1.0, p * m)
    if correction == "holm":
        finite = np.isfinite(p)
        order = np.argsort(p[finite])
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[finite][order])
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(1.0, stepped)
        out = p.copy()
        out[finite] = adjusted
        return out
    raise ValueError(f"correction={correction!r}; use one of {CORRECTIONS}.")


def games_howell(groups: Mapping[str, ArrayLike], *, confidence: float = 0.95) -> pd.DataFrame:
    """Games–Howell pairwise comparisons (unequal variances and sizes).

    For a pair (a, b): se = √(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite df,
    q = |m_a − m_b| √2 / se, p = P(Q_{k, df} > q) with Q the studentized range over all
    k groups; the interval is (m_a − m_b) ± q_{crit} se / √2. The distribution is computed
    by :mod:`analysis.stats.studentized_range` (scipy's adaptive version is ~10× slower).

    Returns
    -------
    DataFrame, one row per pair: group_a, group_b, difference, se, df, q, p, ci_low, ci_high.
    """
    arrays = check_groups(groups)
    k = len(arrays)
    rows = []
    for a, b in _pairs(arrays):
        x, y = arrays[a], arrays[b]
        va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
        se = np.sqrt(va + vb)
        difference = x.mean() - y.mean()
        if se == 0:
            df = q = p = half = np.nan
        else:
            df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
            q = abs(difference) * np.sqrt(2) / se
            p = studentized_range_sf(q, k, df)
            half = studentized_range_ppf(confidence, k, df) * se / np.sqrt(2)
        rows.append(
            {
                "group_a": a,
                "group_b": b,
                "difference": difference,
                "se": se,
                "df": df,
                "q": q,
                "p": min(1.0, p) if np.isfinite(p) else p,
                "ci_low": difference - half,
                "ci_high": difference + half,
            }
        )
    return pd.DataFrame(rows)


def _pairs(arrays: Mapping[str, np.ndarray]) -> list[tuple[str, str]]:
    return list(itertools.combinations(arrays, 2))


def _sizes(arrays: Mapping[str, np.ndarray]) -> dict[str, int]:
    return {name: int(a.size) for name, a in arrays.items()}
