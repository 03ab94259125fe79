"""The paper's Table 1: per-group means, ANOVA per scenario, corrected pairwise t-tests.

Layout (Zhang et al. 2021, Table 1):

- top: mean ± sd per group (scenario × reducer) for each measure;
- middle: the one-way ANOVA p across reducers per scenario and measure;
- bottom: the Bonferroni-corrected t-test p per pair of reducers, only where the ANOVA
  is significant (p < alpha); "/" elsewhere.

Beside it, for robustness (never instead of it): Levene's test, Welch's ANOVA, and
Games–Howell comparisons where Levene's test says the variances differ. Only kept
(not excluded) participants with a value for the measure enter a test; a reducer with
fewer than two such participants is left out of that scenario's tests, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .frames import REDUCER, SCENARIO
from .hypothesis_tests import (
    TTEST_COLUMNS,
    games_howell,
    levene_test,
    one_way_anova,
    pairwise_ttests,
    welch_anova,
)

DEFAULT_REDUCER_ORDER = ("nmf", "kmeans", "pca")
DEFAULT_REDUCER_LABELS = {"nmf": "NMF", "kmeans": "Cluster", "pca": "PCA"}
NOT_TESTED = "/"


@dataclass
class Table1:
    """Everything behind Table 1, in tidy frames (full precision), plus its layouts.

    Attributes
    ----------
    summary : scenario, reducer, measure, n, mean, sd.
    anova : scenario, measure, reducers_tested, f, df_between, df_within, p, eta_squared,
        welch_f, welch_df_within, welch_p, levene_statistic, levene_p, note.
    pairwise : scenario, measure, group_a, group_b, n_a, n_b, mean_a, mean_b, difference,
        t, df, p, p_corrected, cohens_d, ci_low, ci_high (pairs of significant ANOVAs only).
    games_howell : scenario, measure, group_a, group_b, difference, se, df, q, p, ci_low,
        ci_high (where Levene's p < alpha).
    measures : column -> label, in column order.
    """

    summary: pd.DataFrame
    anova: pd.DataFrame
    pairwise: pd.DataFrame
    games_howell: pd.DataFrame
    measures: dict[str, str]
    reducer_labels: dict[str, str]
    alpha: float
    correction: str
    decimals: int = 2
    notes: list[str] = field(default_factory=list)

    def layout(self) -> pd.DataFrame:
        """The paper's layout as strings: columns section, scenario, row, n, then one per measure."""
        labels = list(self.measures.values())
        rows = []
        for row in self.summary.drop_duplicates([SCENARIO, REDUCER]).itertuples(index=False):
            cells = self.summary[
                (self.summary[SCENARIO] == row.scenario) & (self.summary[REDUCER] == row.reducer)
            ].set_index("measure")
            rows.append(
                {
                    "section": "mean ± sd",
                    "scenario": row.scenario,
                    "row": self.label(row.reducer),
                    "n": str(int(cells["n"].max())) if len(cells) else "0",
                    **{self.measures[m]: _mean_sd(cells, m, self.decimals) for m in self.measures},
                }
            )
        for scenario in self.scenarios():
            tests = self.anova[self.anova[SCENARIO] == scenario].set_index("measure")
            rows.append(
                {
                    "section": "ANOVA p",
                    "scenario": scenario,
                    "row": "",
                    "n": "",
                    **{self.measures[m]: _p_cell(tests, m, "p") for m in self.measures},
                }
            )
        rows.extend(self._pair_rows())
        return pd.DataFrame(rows, columns=["section", "scenario", "row", "n", *labels])

    def _pair_rows(self) -> list[dict]:
        rows = []
        for scenario in self.scenarios():
            reducers = self.scenario_reducers(scenario)
            pairs = [(a, b) for i, a in enumerate(reducers) for b in reducers[i + 1 :]]
            for a, b in pairs:
                cells = {}
                for measure, label in self.measures.items():
                    match = self.pairwise[
                        (self.pairwise[SCENARIO] == scenario)
                        & (self.pairwise["measure"] == measure)
                        & (self.pairwise["group_a"] == a)
                        & (self.pairwise["group_b"] == b)
                    ]
                    cells[label] = (
                        format_p(match["p_corrected"].iloc[0]) if len(match) else NOT_TESTED
                    )
                rows.append(
                    {
                        "section": f"{self.correction.capitalize()} p",
                        "scenario": scenario,
                        "row": f"{self.label(a)} vs. {self.label(b)}",
                        "n": "",
                        **cells,
                    }
                )
        return rows

    def scenarios(self) -> list[str]:
        """Scenarios in table order."""
        return list(dict.fromkeys(self.summary[SCENARIO]))

    def scenario_reducers(self, scenario: str) -> list[str]:
        """The scenario's reducers in table order."""
        return list(dict.fromkeys(self.summary.loc[self.summary[SCENARIO] == scenario, REDUCER]))

    def label(self, reducer: str) -> str:
        """The reducer's label in tables (NMF, Cluster, PCA by default)."""
        return self.reducer_labels.get(reducer, reducer)

    def to_markdown(self) -> str:
        """GitHub-flavoured markdown: the three sections as three tables."""
        layout = self.layout()
        parts = []
        for section, rows in layout.groupby("section", sort=False):
            columns = ["scenario", "row", "n", *self.measures.values()]
            if section != "mean ± sd":
                columns.remove("n")
            if section == "ANOVA p":
                columns.remove("row")
            parts.append(f"**{section}**\n\n" + _markdown_table(rows[columns]))
        caption = (
            f"Table 1. Top: mean ± sd per group (kept participants). Middle: one-way ANOVA p "
            f"across reducers per scenario. Bottom: {self.correction.capitalize()}-corrected t-test p per "
            f"pair of reducers where the ANOVA p < {self.alpha:g} ('{NOT_TESTED}' elsewhere)."
        )
        return caption + "\n\n" + "\n\n".join(parts) + "\n"

    def to_latex(self) -> str:
        """A booktabs ``tabular`` in the paper's layout (needs ``\\usepackage{booktabs}``)."""
        layout = self.layout()
        labels = list(self.measures.values())
        lines = [
            r"\begin{tabular}{ll" + "c" * len(labels) + "}",
            r"\toprule",
            " & ".join(["Scenario", "Reducer", *map(_latex_escape, labels)]) + r" \\",
        ]
        for section, rows in layout.groupby("section", sort=False):
            lines.append(r"\midrule")
            lines.append(
                rf"\multicolumn{{{len(labels) + 2}}}{{l}}{{\emph{{{_latex_escape(section)}}}}} \\"
            )
            for row in rows.itertuples(index=False):
                cells = [row.scenario, row.row, *row[4:]]
                lines.append(" & ".join(_latex_escape(str(c)) for c in cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", ""]
        return "\n".join(lines)


def build_table1(
    scores: pd.DataFrame,
    measures: Mapping[str, str],
    *,
    reducer_order: Sequence[str] = DEFAULT_REDUCER_ORDER,
    reducer_labels: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    correction: str = "bonferroni",
    decimals: int = 2,
) -> Table1:
    """Table 1 from per-participant scores.

    Parameters
    ----------
    scores : one row per participant with scenario, reducer, an optional boolean
        ``excluded`` (excluded participants are left out) and one column per measure.
    measures : measure column -> label (e.g. ``{"accuracy": "Accuracy"}``), in table order.
    reducer_order : reducers in this order first, any others after them alphabetically.
    reducer_labels : reducer -> label (default NMF, Cluster, PCA).
    alpha : the significance level that gates the pairwise tests.
    correction : "bonferroni" (the paper), "holm" or "none".
    """
    missing = [column for column in (SCENARIO, REDUCER, *measures) if column not in scores]
    if missing:
        raise ValueError(f"scores lack column(s) {missing}; pass one column per measure.")
    kept = scores[~scores["excluded"].astype(bool)] if "excluded" in scores else scores
    labels = {**DEFAULT_REDUCER_LABELS, **(reducer_labels or {})}
    table = Table1(
        summary=_summary(kept, scores, measures, reducer_order),
        anova=pd.DataFrame(),
        pairwise=pd.DataFrame(),
        games_howell=pd.DataFrame(),
        measures=dict(measures),
        reducer_labels=labels,
        alpha=alpha,
        correction=correction,
        decimals=decimals,
    )
    anova_rows, pair_frames, gh_frames = [], [], []
    for scenario in table.scenarios():
        for measure in measures:
            groups = {
                reducer: _values(kept, scenario, reducer, measure)
                for reducer in table.scenario_reducers(scenario)
            }
            row, pairs, gh = _test_measure(scenario, measure, groups, table)
            anova_rows.append(row)
            pair_frames.append(pairs)
            gh_frames.append(gh)
    table.anova = pd.DataFrame(anova_rows, columns=_ANOVA_COLUMNS)
    table.pairwise = _concat(pair_frames, _PAIR_COLUMNS)
    table.games_howell = _concat(gh_frames, _GH_COLUMNS)
    table.notes.extend(note for note in table.anova["note"] if note)
    return table


def _values(kept: pd.DataFrame, scenario: str, reducer: str, measure: str) -> np.ndarray:
    rows = kept[(kept[SCENARIO] == scenario) & (kept[REDUCER] == reducer)]
    return pd.to_numeric(rows[measure], errors="coerce").dropna().to_numpy(dtype=np.float64)


_ANOVA_COLUMNS = [
    SCENARIO,
    "measure",
    "reducers_tested",
    "f",
    "df_between",
    "df_within",
    "p",
    "eta_squared",
    "welch_f",
    "welch_df_within",
    "welch_p",
    "levene_statistic",
    "levene_p",
    "note",
]
_PAIR_COLUMNS = [SCENARIO, "measure", *TTEST_COLUMNS]
_GH_COLUMNS = [
    SCENARIO,
    "measure",
    "group_a",
    "group_b",
    "difference",
    "se",
    "df",
    "q",
    "p",
    "ci_low",
    "ci_high",
]


def _summary(
    kept: pd.DataFrame, scores: pd.DataFrame, measures: Mapping[str, str], order: Sequence[str]
) -> pd.DataFrame:
    # Scenarios in the order given; reducers in ``order``, then any others alphabetically.
    rank = {reducer: i for i, reducer in enumerate(order)}
    rows = []
    for scenario in dict.fromkeys(scores[SCENARIO]):
        present = scores.loc[scores[SCENARIO] == scenario, REDUCER].unique()
        for reducer in sorted(present, key=lambda r: (rank.get(r, len(rank)), str(r))):
            rows.extend(_summary_rows(kept, scenario, reducer, measures))
    return pd.DataFrame(rows, columns=[SCENARIO, REDUCER, "measure", "n", "mean", "sd"])


def _summary_rows(
    kept: pd.DataFrame, scenario: str, reducer: str, measures: Mapping[str, str]
) -> list[dict]:
    rows = []
    for measure in measures:
        values = _values(kept, scenario, reducer, measure)
        rows.append(
            {
                SCENARIO: scenario,
                REDUCER: reducer,
                "measure": measure,
                "n": values.size,
                "mean": values.mean() if values.size else np.nan,
                "sd": values.std(ddof=1) if values.size > 1 else np.nan,
            }
        )
    return rows


def _test_measure(
    scenario: str, measure: str, groups: dict[str, np.ndarray], table: Table1
) -> tuple[dict, pd.DataFrame | None, pd.DataFrame | None]:
    label = f"{scenario} / {table.measures[measure]}"
    row: dict = {SCENARIO: scenario, "measure": measure}
    small = {r: v.size for r, v in groups.items() if v.size < 2}
    usable = {r: v for r, v in groups.items() if v.size >= 2}
    row["reducers_tested"] = ", ".join(usable)
    notes = []
    if small:
        listed = ", ".join(f"{table.label(r)} (n = {n})" for r, n in small.items())
        notes.append(
            f"{label}: left out of the tests for fewer than two kept participants: {listed}."
        )
    if len(usable) < 2:
        reason = "only one reducer" if len(groups) < 2 else "fewer than two testable reducers"
        notes.append(f"{label}: no between-reducer test ({reason}).")
        row["note"] = " ".join(notes)
        return row, None, None
    anova = one_way_anova(usable)
    welch = welch_anova(usable)
    levene = levene_test(usable)
    row.update(
        f=anova.f,
        df_between=anova.df_between,
        df_within=anova.df_within,
        p=anova.p,
        eta_squared=anova.eta_squared,
        welch_f=welch.f,
        welch_df_within=welch.df_within,
        welch_p=welch.p,
        levene_statistic=levene.statistic,
        levene_p=levene.p,
    )
    if np.isnan(anova.p):
        notes.append(f"{label}: the ANOVA is undefined (no variance within or between reducers).")
    row["note"] = " ".join(notes)
    pairs = gh = None
    if anova.p < table.alpha:
        pairs = pairwise_ttests(usable, correction=table.correction).assign(
            **{SCENARIO: scenario, "measure": measure}
        )
    if levene.p < table.alpha:
        gh = games_howell(usable).assign(**{SCENARIO: scenario, "measure": measure})
    return row, pairs, gh


def _concat(frames: list[pd.DataFrame | None], columns: list[str]) -> pd.DataFrame:
    present = [f[columns] for f in frames if f is not None and len(f)]
    return pd.concat(present, ignore_index=True) if present else pd.DataFrame(columns=columns)


def format_p(p: float) -> str:
    """A p-value as in the paper: "<0.001", otherwise three decimals; "n/a" when undefined."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _mean_sd(cells: pd.DataFrame, measure: str, decimals: int) -> str:
    if measure not in cells.index or cells.loc[measure, "n"] == 0:
        return "–"
    mean, sd = cells.loc[measure, "mean"], cells.loc[measure, "sd"]
    sd_text = f"{sd:.{decimals}f}" if np.isfinite(sd) else "n/a"
    return f"{mean:.{decimals}f} ± {sd_text}"


def _p_cell(tests: pd.DataFrame, measure: str, column: str) -> str:
    if measure not in tests.index:
        return NOT_TESTED
    value = tests.loc[measure, column]
    return NOT_TESTED if pd.isna(value) else format_p(float(value))


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in frame.values
    ]
    return "\n".join([header, rule, *body])


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "<": r"$<$",
    "–": "--",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
