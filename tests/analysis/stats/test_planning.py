"""Sample sizes against published tables and statsmodels; simulated power against analytic power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import FTestAnovaPower

from analysis.stats.planning import (
    EffectTooSmall,
    cohens_f_from_eta_squared,
    power_by_simulation,
    sample_size_per_group,
)


def test_it_reproduces_published_sample_sizes():
    # G*Power (Faul et al. 2007), one-way ANOVA, f = 0.25, alpha = .05, power = .80,
    # 3 groups: total 159 = 53 per group. Cohen (1988) Table 2.4.1: d = 0.5 -> 64 per group.
    anova = sample_size_per_group(0.25, n_groups=3)
    assert (anova.per_group, anova.total) == (53, 159)
    assert anova.power >= 0.8
    assert sample_size_per_group(0.5, test="ttest").per_group == 64


@pytest.mark.parametrize(("f", "k"), [(0.1, 3), (0.4, 4), (0.8, 2)])
def test_it_is_the_smallest_size_reaching_the_power(f, k):
    size = sample_size_per_group(f, n_groups=k, power=0.9)
    power = FTestAnovaPower().power
    assert power(effect_size=f, nobs=size.per_group * k, alpha=0.05, k_groups=k) >= 0.9
    assert power(effect_size=f, nobs=(size.per_group - 1) * k, alpha=0.05, k_groups=k) < 0.9
    total = FTestAnovaPower().solve_power(effect_size=f, alpha=0.05, power=0.9, k_groups=k)
    assert size.per_group == math.ceil(total / k)


def test_an_effect_no_affordable_design_detects_raises_a_named_error():
    # f = 1e-4: the ANOVA needs about 3.2 / f^2 = 3.2e8 per group (three groups, power .8).
    with pytest.raises(EffectTooSmall, match="more than 10,000,000 per group") as raised:
        sample_size_per_group(1e-4, n_groups=3)
    assert raised.value.limit == 10**7
    assert isinstance(raised.value, ValueError)  # callers catching ValueError still do


def test_cohens_f_from_eta_squared():
    assert cohens_f_from_eta_squared(0.2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        cohens_f_from_eta_squared(1.0)


def test_simulated_power_agrees_with_the_analytic_power():
    # A "pilot" whose group means and pooled sd are exactly known: means 0, .3, .6, sd 1.
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 200)
    base = (base - base.mean()) / base.std(ddof=1)
    pilot = {"a": base, "b": base + 0.3, "c": base + 0.6}
    f = np.std([0, 0.3, 0.6]) / 1.0
    analytic = FTestAnovaPower().power(effect_size=f, nobs=3 * 30, alpha=0.05, k_groups=3)
    simulated = power_by_simulation(pilot, 30, n_simulations=4000, method="normal", seed=1)
    assert abs(simulated.power - analytic) < 4 * simulated.standard_error
    # Bootstrapping a normal-shaped pilot lands close too (the pilot is large).
    boot = power_by_simulation(pilot, 30, n_simulations=4000, method="bootstrap", seed=1)
    assert abs(boot.power - analytic) < 0.05
    again = power_by_simulation(pilot, 30, n_simulations=4000, method="bootstrap", seed=1)
    assert again.power == boot.power


def test_simulation_input_errors():
    with pytest.raises(ValueError, match="group 'b' has 1 value"):
        power_by_simulation({"a": [1, 2], "b": [1]}, 10)
    with pytest.raises(ValueError, match="method="):
        power_by_simulation({"a": [1, 2], "b": [1, 3]}, 10, method="magic")
    with pytest.raises(ValueError, match="no size for group"):
        power_by_simulation({"a": [1, 2], "b": [1, 3]}, {"a": 5})
