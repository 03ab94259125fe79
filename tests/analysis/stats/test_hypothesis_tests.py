"""Between-group tests against published values (R's PlantGrowth) and scipy/statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.stats.hypothesis_tests import (
    correct_pvalues,
    games_howell,
    levene_test,
    one_way_anova,
    pairwise_ttests,
    welch_anova,
)

# R's datasets::PlantGrowth (Dobson 1983): dried plant weight under a control and two treatments.
PLANT_GROWTH = {
    "ctrl": [4.17, 5.58, 5.18, 6.11, 4.50, 4.61, 5.17, 4.53, 5.33, 5.14],
    "trt1": [4.81, 4.17, 4.41, 3.59, 5.87, 3.83, 6.03, 4.89, 4.32, 4.69],
    "trt2": [6.31, 5.12, 5.54, 5.50, 5.37, 5.29, 4.92, 6.15, 5.80, 5.26],
}


def random_groups(seed: int, sizes=(12, 17, 9), shifts=(0.0, 0.8, -0.3), scales=(1, 2, 0.5)):
    rng = np.random.default_rng(seed)
    return {
        f"g{i}": rng.normal(shift, scale, size)
        for i, (size, shift, scale) in enumerate(zip(sizes, shifts, scales, strict=True))
    }


def test_it_reproduces_the_published_plantgrowth_anova():
    # R: summary(aov(weight ~ group, PlantGrowth)): F = 4.846 on 2 and 27 df, p = 0.01591;
    # Sum Sq 3.766 (group) and 10.492 (residuals), so eta^2 = 3.766 / 14.258.
    result = one_way_anova(PLANT_GROWTH)
    assert result.f == pytest.approx(4.846, abs=5e-4)
    assert result.p == pytest.approx(0.01591, abs=5e-6)
    assert (result.df_between, result.df_within) == (2, 27)
    assert result.eta_squared == pytest.approx(3.76634 / (3.76634 + 10.49209), abs=1e-5)


def test_it_reproduces_the_published_plantgrowth_welch_and_levene():
    # R: oneway.test(weight ~ group, PlantGrowth): F = 5.181, num df = 2, denom df = 17.128,
    # p = 0.01739. car::leveneTest(weight ~ group, PlantGrowth): F = 1.1192, p = 0.3412.
    welch = welch_anova(PLANT_GROWTH)
    assert welch.f == pytest.approx(5.181, abs=5e-4)
    assert welch.df_within == pytest.approx(17.128, abs=5e-4)
    assert welch.p == pytest.approx(0.01739, abs=5e-6)
    levene = levene_test(PLANT_GROWTH)
    assert levene.statistic == pytest.approx(1.1192, abs=5e-5)
    assert levene.p == pytest.approx(0.3412, abs=5e-5)


def test_it_reproduces_the_published_plantgrowth_games_howell():
    # rstatix::games_howell_test(PlantGrowth, weight ~ group): p.adj 0.475, 0.113, 0.0237;
    # trt1 - trt2 interval (-1.62, -0.114) (rstatix reports group2 - group1).
    table = games_howell(PLANT_GROWTH)
    assert table["p"].tolist() == pytest.approx([0.475, 0.113, 0.0237], abs=6e-4)
    last = table.iloc[2]
    assert (last.ci_low, last.ci_high) == pytest.approx((-1.62, -0.114), abs=6e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_matches_scipy_and_statsmodels_on_random_data(seed):
    groups = random_groups(seed)
    values = list(groups.values())
    anova = one_way_anova(groups)
    reference = stats.f_oneway(*values)
    assert anova.f == pytest.approx(reference.statistic, rel=1e-12)
    assert anova.p == pytest.approx(reference.pvalue, rel=1e-9)
    assert levene_test(groups, center="mean").p == pytest.approx(
        stats.levene(*values, center="mean").pvalue, rel=1e-12
    )
    from statsmodels.stats.oneway import anova_oneway

    welch_reference = anova_oneway(values, use_var="unequal", welch_correction=True)
    welch = welch_anova(groups)
    assert welch.f == pytest.approx(welch_reference.statistic, rel=1e-10)
    assert welch.p == pytest.approx(welch_reference.pvalue, rel=1e-8)


@pytest.mark.parametrize("equal_var", [True, False])
def test_it_matches_scipy_pairwise(equal_var):
    groups = random_groups(4)
    table = pairwise_ttests(groups, equal_var=equal_var)
    assert list(zip(table.group_a, table.group_b, strict=True)) == [
        ("g0", "g1"),
        ("g0", "g2"),
        ("g1", "g2"),
    ]
    for row in table.itertuples():
        a, b = groups[row.group_a], groups[row.group_b]
        reference = stats.ttest_ind(a, b, equal_var=equal_var)
        assert row.t == pytest.approx(reference.statistic, rel=1e-12)
        assert row.p == pytest.approx(reference.pvalue, rel=1e-9)
        assert row.df == pytest.approx(reference.df, rel=1e-12)
        interval = reference.confidence_interval(0.95)
        assert (row.ci_low, row.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-9)
        pooled = np.sqrt(
            ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)
        )
        assert row.cohens_d == pytest.approx((a.mean() - b.mean()) / pooled, rel=1e-12)
    expected = multipletests(table["p"], method="bonferroni")[1]
    assert table["p_corrected"].to_numpy() == pytest.approx(expected, rel=1e-12)


def test_holm_matches_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.0001])
    assert correct_pvalues(p, "holm") == pytest.approx(multipletests(p, method="holm")[1])
    assert correct_pvalues(p, "none") == pytest.approx(p)


def test_games_howell_with_two_groups_is_welchs_t_test():
    # With k = 2 the studentized range of q = |t|·√2 is the two-sided t distribution.
    groups = random_groups(7, sizes=(8, 15), shifts=(0, 1), scales=(1, 3))
    row = games_howell(groups).iloc[0]
    reference = stats.ttest_ind(groups["g0"], groups["g1"], equal_var=False)
    assert row.p == pytest.approx(reference.pvalue, rel=1e-5)
    interval = reference.confidence_interval(0.95)
    assert (row.ci_low, row.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-5)


def test_it_refuses_a_group_with_fewer_than_two_values():
    with pytest.raises(ValueError, match="group 'b' has 1 value"):
        one_way_anova({"a": [1, 2, 3], "b": [4]})
    with pytest.raises(ValueError, match="at least 2 groups"):
        pairwise_ttests({"a": [1, 2, 3]})
    with pytest.raises(ValueError, match="missing or infinite"):
        welch_anova({"a": [1, np.nan, 3], "b": [4, 5]})
    with pytest.raises(ValueError, match="correction"):
        pairwise_ttests({"a": [1, 2], "b": [3, 5]}, correction="sidak-ish")


def test_it_gives_nan_not_a_crash_without_variance():
    result = one_way_anova({"a": [1.0, 1.0], "b": [1.0, 1.0]})
    assert np.isnan(result.f) and np.isnan(result.p)
    separated = one_way_anova({"a": [1.0, 1.0], "b": [2.0, 2.0]})
    assert separated.f == np.inf and separated.p == 0.0
    assert np.isnan(welch_anova({"a": [1.0, 1.0], "b": [2.0, 3.0]}).f)
