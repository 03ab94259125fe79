"""Table 1: the paper's layout, its gating rule, and notes for groups that cannot be tested."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.stats.table1 import build_table1, format_p

MEASURES = {"accuracy": "Accuracy", "q_confidence": "Confidence"}


def scores_frame(seed: int = 0, n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for scenario in ("RI", "RC"):
        for reducer, shift in (("pca", -0.3), ("nmf", 0.0), ("kmeans", 0.0)):
            for _ in range(n):
                rows.append(
                    {
                        "scenario": scenario,
                        "reducer": reducer,
                        "accuracy": 0.7 + shift + rng.normal(0, 0.1),
                        "q_confidence": 4 + rng.normal(0, 1),
                        "excluded": False,
                    }
                )
    return pd.DataFrame(rows)


def test_summary_and_tests_match_scipy_and_the_layout_follows_the_paper():
    scores = scores_frame()
    table = build_table1(scores, MEASURES)
    kept = scores[scores.scenario == "RI"]
    groups = [kept.loc[kept.reducer == r, "accuracy"] for r in ("nmf", "kmeans", "pca")]
    anova = table.anova.set_index(["scenario", "measure"]).loc[("RI", "accuracy")]
    assert anova.p == pytest.approx(stats.f_oneway(*groups).pvalue, rel=1e-9)
    layout = table.layout()
    top = layout[layout.section == "mean ± sd"]
    # Reducers in the paper's order (NMF, Cluster, PCA), whatever order the data had.
    assert top.row.tolist() == ["NMF", "Cluster", "PCA"] * 2
    nmf = groups[0]
    assert top.iloc[0]["Accuracy"] == f"{nmf.mean():.2f} ± {nmf.std(ddof=1):.2f}"
    bottom = layout[layout.section == "Bonferroni p"]
    assert bottom.row.tolist()[:3] == ["NMF vs. Cluster", "NMF vs. PCA", "Cluster vs. PCA"]
    pair = table.pairwise.query("scenario == 'RI' and measure == 'accuracy'").iloc[1]
    p = stats.ttest_ind(groups[0], groups[2]).pvalue
    assert pair.p_corrected == pytest.approx(min(1, 3 * p), rel=1e-9)
    assert bottom.iloc[1]["Accuracy"] == format_p(min(1, 3 * p))


def test_pairs_are_only_tested_where_the_anova_is_significant():
    table = build_table1(scores_frame(), MEASURES)
    for row in table.anova.itertuples():
        tested = table.pairwise.query(
            f"scenario == '{row.scenario}' and measure == '{row.measure}'"
        )
        assert (len(tested) == 3) == (row.p < 0.05)
    layout = table.layout()
    insignificant = table.anova[table.anova.p >= 0.05]
    for row in insignificant.itertuples():
        cells = layout[(layout.section == "Bonferroni p") & (layout.scenario == row.scenario)]
        assert set(cells[MEASURES[row.measure]]) == {"/"}


def test_small_groups_single_reducers_and_exclusions_give_notes():
    scores = scores_frame()
    scores = scores[~((scores.scenario == "RI") & (scores.reducer == "pca"))].copy()
    scores.loc[scores.index[0], "reducer"] = "pca"  # RI/pca with one participant
    scores.loc[(scores.scenario == "RC") & (scores.reducer != "nmf"), "excluded"] = True
    table = build_table1(scores, MEASURES)
    text = " ".join(table.notes)
    assert (
        "RI / Accuracy: left out of the tests for fewer than two kept participants: PCA (n = 1)"
        in text
    )
    assert "RC / Accuracy: no between-reducer test (fewer than two testable reducers)" in text
    ri = table.anova.set_index(["scenario", "measure"]).loc[("RI", "accuracy")]
    assert ri.reducers_tested == "nmf, kmeans" and np.isfinite(ri.p)
    single = build_table1(scores_frame().query("reducer == 'nmf'"), MEASURES)
    assert "no between-reducer test (only one reducer)" in " ".join(single.notes)


def test_markdown_and_latex_render_every_section():
    table = build_table1(scores_frame(), MEASURES)
    markdown = table.to_markdown()
    assert "**mean ± sd**" in markdown and "**ANOVA p**" in markdown
    assert "| RI | NMF |" in markdown
    latex = table.to_latex()
    assert latex.startswith(r"\begin{tabular}{llcc}") and r"$\pm$" in latex
    assert latex.count(r"\midrule") == 3


def test_format_p():
    assert format_p(0.0004) == "<0.001"
    assert format_p(0.0499) == "0.050"
    assert format_p(float("nan")) == "n/a"
