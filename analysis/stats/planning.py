"""Planning a study: participants needed per group, and power by simulation from a pilot.

- :func:`sample_size_per_group` finds the smallest whole number of participants per group
  whose power, from statsmodels' power functions, reaches the target: the one-way ANOVA
  F test for Cohen's f (``FTestAnovaPower``, whose ``nobs`` is the total over all groups)
  or the two-sample t-test for Cohen's d (``TTestIndPower``). The power at that size is
  reported.
- :func:`power_by_simulation` estimates the power of the one-way ANOVA at a planned size
  from pilot data: each simulated study draws ``n`` values per group, either by resampling
  the pilot group with replacement (``"bootstrap"``: keeps the pilot's shape, e.g. the
  ceiling of accuracy at 1) or from normal distributions with the pilot's group means and
  pooled sd (``"normal"``). Power is the share of simulated studies with p < alpha, with
  its Monte-Carlo standard error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.power import FTestAnovaPower, TTestIndPower

from .hypothesis_tests import check_groups

TESTS = ("anova", "ttest")
SIMULATION_METHODS = ("bootstrap", "normal")


@dataclass(frozen=True)
class SampleSize:
    """Participants needed: ``per_group`` (rounded up), ``total``, and the ``power`` reached."""

    per_group: int
    total: int
    power: float
    effect_size: float
    alpha: float
    target_power: float
    n_groups: int
    test: str


@dataclass(frozen=True)
class SimulatedPower:
    """Power estimated by simulation: ``power`` ± ``standard_error`` over ``n_simulations``."""

    power: float
    standard_error: float
    n_simulations: int
    n_per_group: dict[str, int]
    alpha: float
    method: str
    seed: int


def cohens_f_from_eta_squared(eta_squared: float) -> float:
    """Cohen's f = √(η² / (1 − η²)), the effect size of the ANOVA power equation."""
    if not 0 <= eta_squared < 1:
        raise ValueError(f"eta_squared={eta_squared!r} must be in [0, 1).")
    return math.sqrt(eta_squared / (1 - eta_squared))


def sample_size_per_group(
    effect_size: float,
    *,
    n_groups: int = 3,
    alpha: float = 0.05,
    power: float = 0.8,
    test: str = "anova",
) -> SampleSize:
    """Participants per group for the one-way ANOVA (Cohen's f) or a t-test (Cohen's d).

    Parameters
    ----------
    effect_size : Cohen's f for ``test="anova"`` (0.1 small, 0.25 medium, 0.4 large;
        see :func:`cohens_f_from_eta_squared`), Cohen's d for ``test="ttest"``.
    n_groups : groups compared (reducers per scenario); a t-test compares two.
    alpha, power : significance level and the power wanted.
    """
    if test not in TESTS:
        raise ValueError(f"test={test!r}; use 'anova' (effect size f) or 'ttest' (effect size d).")
    if not effect_size > 0:
        raise ValueError(f"effect_size={effect_size!r} must be positive; no design detects 0.")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha={alpha!r} and power={power!r} must be strictly between 0 and 1.")
    if test == "ttest":
        n_groups = 2

        def power_at(n: int) -> float:
            return TTestIndPower().power(effect_size=effect_size, nobs1=n, alpha=alpha)
    else:
        if n_groups < 2:
            raise ValueError(f"n_groups={n_groups} must be at least 2 for an ANOVA.")

        def power_at(n: int) -> float:
            return FTestAnovaPower().power(
                effect_size=effect_size, nobs=n * n_groups, alpha=alpha, k_groups=n_groups
            )

    per_group = _smallest_n(power_at, power)
    reached = power_at(per_group)
    return SampleSize(
        per_group, per_group * n_groups, float(reached), effect_size, alpha, power, n_groups, test
    )


class EffectTooSmall(ValueError):
    """No design up to ``limit`` participants per group reaches the power wanted."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} per group would be needed; the effect is tiny.")
        self.limit = limit


def _smallest_n(power_at, target: float, *, limit: int = 10**7) -> int:
    """The smallest n >= 2 with power_at(n) >= target (power grows with n): doubling, then
    bisection. Whole participants, so no rounding of a continuous solution is needed."""
    high = 2
    while power_at(high) < target:
        if high >= limit:
            raise EffectTooSmall(limit)
        high *= 2
    low = high // 2 if high > 2 else 1  # power_at(low) < target, or low = 1 (below the minimum)
    while high - low > 1:
        middle = (low + high) // 2
        if power_at(middle) >= target:
            high = middle
        else:
            low = middle
    return max(high, 2)


def power_by_simulation(
    pilot: Mapping[str, ArrayLike],
    n_per_group: int | Mapping[str, int],
    *,
    n_simulations: int = 2000,
    alpha: float = 0.05,
    method: str = "bootstrap",
    seed: int = 0,
) -> SimulatedPower:
    """Power of the one-way ANOVA at ``n_per_group`` by simulating studies from ``pilot``.

    Parameters
    ----------
    pilot : group name -> pilot values (at least two per group, at least two groups).
    n_per_group : planned participants per group (one number, or one per group).
    n_simulations : simulated studies; the standard error is √(p(1−p)/n_simulations).
    method : "bootstrap" (resample pilot values) or "normal" (pilot means, pooled sd).
    seed : seeds numpy's generator, so the estimate is reproducible.
    """
    groups = check_groups(pilot)
    if method not in SIMULATION_METHODS:
        raise ValueError(f"method={method!r}; use one of {SIMULATION_METHODS}.")
    sizes = _sizes(groups, n_per_group)
    if n_simulations < 1:
        raise ValueError(f"n_simulations={n_simulations} must be at least 1.")
    rng = np.random.default_rng(seed)
    pooled_sd = math.sqrt(
        sum((a.size - 1) * a.var(ddof=1) for a in groups.values())
        / sum(a.size - 1 for a in groups.values())
    )
    means, variances = [], []
    for name, values in groups.items():
        if method == "bootstrap":
            draws = rng.choice(values, size=(n_simulations, sizes[name]), replace=True)
        else:
            draws = rng.normal(values.mean(), pooled_sd, size=(n_simulations, sizes[name]))
        means.append(draws.mean(axis=1))
        variances.append(draws.var(axis=1, ddof=1))
    p = _anova_p(np.array(means), np.array(variances), np.array(list(sizes.values())))
    power = float(np.mean(p < alpha))
    return SimulatedPower(
        power,
        math.sqrt(power * (1 - power) / n_simulations),
        n_simulations,
        sizes,
        alpha,
        method,
        seed,
    )


def _sizes(groups: Mapping[str, np.ndarray], n_per_group: int | Mapping[str, int]) -> dict:
    if isinstance(n_per_group, Mapping):
        missing = [name for name in groups if name not in n_per_group]
        if missing:
            raise ValueError(f"n_per_group has no size for group(s) {missing}.")
        sizes = {name: int(n_per_group[name]) for name in groups}
    else:
        sizes = {name: int(n_per_group) for name in groups}
    if min(sizes.values()) < 2:
        raise ValueError(f"n_per_group={sizes} must be at least 2 in every group.")
    return sizes


def _anova_p(means: np.ndarray, variances: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """One-way ANOVA p-values of many studies at once: means, variances (k, n_sim); sizes (k,)."""
    k, total = len(sizes), sizes.sum()
    n = sizes[:, None]
    grand = (n * means).sum(axis=0) / total
    between = (n * (means - grand) ** 2).sum(axis=0) / (k - 1)
    within = ((n - 1) * variances).sum(axis=0) / (total - k)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = between / within
    p = stats.f.sf(f, k - 1, total - k)
    # A simulated study without any variance (possible when bootstrapping a constant pilot)
    # cannot reject.
    return np.where(np.isfinite(p), p, 1.0)
