"""``report.html``: one self-contained, print-friendly page (plots embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable

import numpy as np
import pandas as pd

# Figures are built with matplotlib's object API (never pyplot), so no GUI backend is
# involved and a notebook's own backend is left alone; savefig renders with Agg.
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .frames import REDUCER, SCENARIO
from .report import ACCURACY, Report
from .table1 import format_p

MAX_CONCEPT_ROWS = 300
MAX_UNKNOWN_WORDS = 40
P_VALUE_COLUMNS = {"p", "p_corrected", "welch_p", "levene_p", "wald_p"}
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;
max-width:1100px;margin:2rem auto;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.2rem}h3{font-size:1.05rem}
.meta{color:#57606a}table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f6f8fa}td.l,th.l{text-align:left}td:not(.l){white-space:nowrap}.notes{background:#fff8c5;
border:1px solid #d4a72c;padding:.5rem 1rem;border-radius:6px}
.notes li{margin:.2rem 0}img{max-width:100%;height:auto}figure{margin:1rem 0}
figcaption{color:#57606a;font-size:.85rem}.methods p{max-width:60rem}
.wide{overflow-x:auto;max-width:100%}.wide table{margin:0}.wide{margin:.6rem 0}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}figure,table{break-inside:avoid}
.wide{overflow:visible}}
"""


def render_html(report: Report) -> str:
    """The whole page as a string."""
    sections = [
        _header(report),
        _notes(report),
        _overview(report),
        _section("Table 1", _table1(report)),
        _section("Plots", _plots(report)),
        _section("Tests in detail", _tests(report)),
        _section("Concepts", _concepts(report)),
        _section("Unknown words", _unknown(report)),
        _section("Methods", _methods(report)),
    ]
    title = html.escape(report.settings.title)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>" if body else ""


def _header(report: Report) -> str:
    study = f" — {html.escape(report.settings.study)}" if report.settings.study else ""
    vectors = html.escape(report.vectors_description or "none (description similarity absent)")
    return (
        f"<header><h1>{html.escape(report.settings.title)}{study}</h1>"
        f'<p class="meta">Generated {html.escape(report.generated_at)}. Word vectors: {vectors}.</p>'
        "</header>"
    )


def _notes(report: Report) -> str:
    if not report.notes:
        return ""
    items = "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
    return f'<section class="notes"><strong>Notes</strong><ul>{items}</ul></section>'


def _overview(report: Report) -> str:
    scores = report.participants
    if len(scores) == 0:
        return "<p>No participants.</p>"
    counts = (
        scores.assign(kept=~scores["excluded"])
        .groupby([SCENARIO, REDUCER], sort=False, dropna=False)
        .agg(
            participants=("excluded", "size"),
            kept=("kept", "sum"),
            excluded=("excluded", "sum"),
            bonus=("bonus", "sum"),
        )
        .reset_index()
    )
    rank = {
        (scenario, reducer): i
        for i, (scenario, reducer) in enumerate(
            report.table1.summary[[SCENARIO, REDUCER]].drop_duplicates().itertuples(index=False)
        )
    }
    order = [
        rank.get((s, r), len(rank)) for s, r in zip(counts[SCENARIO], counts[REDUCER], strict=True)
    ]
    counts = counts.iloc[np.argsort(order, kind="stable")]
    counts[REDUCER] = counts[REDUCER].map(lambda r: report.table1.reducer_labels.get(r, r))
    return _section("Participants", _html_table(counts, left=2))


def _table1(report: Report) -> str:
    layout = report.table1.layout()
    caption = html.escape(report.table1.to_markdown().split("\n\n", 1)[0])
    parts = [f'<p class="meta">{caption}</p>']
    for section, rows in layout.groupby("section", sort=False):
        rows = rows.drop(columns="section")
        if section != "mean ± sd":
            rows = rows.drop(columns="n")
        labels = 2
        if section == "ANOVA p":
            rows, labels = rows.drop(columns="row"), 1  # only the scenario labels the row
        parts.append(f"<h3>{html.escape(section)}</h3>" + _html_table(rows, left=labels))
    return "".join(parts)


def _tests(report: Report) -> str:
    table = report.table1
    parts = []
    if len(table.anova):
        anova = table.anova.assign(measure=table.anova["measure"].map(table.measures))
        parts.append("<h3>ANOVA, Welch's ANOVA and Levene's test</h3>" + _html_table(anova, left=3))
    if len(table.pairwise):
        pairs = table.pairwise.assign(measure=table.pairwise["measure"].map(table.measures))
        parts.append(f"<h3>Pairwise t-tests ({table.correction})</h3>" + _html_table(pairs, left=4))
    if len(table.games_howell):
        howell = table.games_howell.assign(
            measure=table.games_howell["measure"].map(table.measures)
        )
        parts.append("<h3>Games–Howell (where variances differ)</h3>" + _html_table(howell, left=4))
    if len(report.mixed_models):
        parts.append(
            "<h3>Mixed model: correct ~ reducer + (1 | participant), per scenario</h3>"
            + _html_table(report.mixed_models, left=2)
        )
    if len(report.planning):
        parts.append(
            f"<h3>Planning: participants per group for power {report.settings.power:g} at the "
            "observed effect</h3><p>For planning a replication. Observed η² overestimates the "
            "population effect, so these sizes are optimistic; this is not a power analysis of "
            "the study itself.</p>" + _html_table(report.planning, left=2)
        )
    return "".join(parts) or "<p>No test could be run (see the notes).</p>"


def _concepts(report: Report) -> str:
    concepts = report.concepts
    if len(concepts) == 0:
        return ""
    shown = concepts.head(MAX_CONCEPT_ROWS)
    more = (
        f"<p>First {MAX_CONCEPT_ROWS} of {len(concepts):,} concepts; all are in concepts.csv.</p>"
        if len(concepts) > MAX_CONCEPT_ROWS
        else ""
    )
    explain = (
        "<p>Per concept: how often it was the target and matched, how participants named it "
        "(most frequent labels), and whether the labels name the synthetic dataset's part the "
        "concept highlights best (share of descriptions containing a word of the part's name; "
        "mean cosine to the part's name).</p>"
    )
    return explain + _html_table(shown, left=5) + more


def _unknown(report: Report) -> str:
    words = report.unknown_words
    if len(words) == 0:
        return ""
    shown = words.head(MAX_UNKNOWN_WORDS)
    return (
        f"<p>{int(words['count'].sum()):,} occurrences of {len(words):,} distinct words not in "
        f"the vocabulary; the {len(shown)} most frequent:</p>" + _html_table(shown, left=1)
    )


def _methods(report: Report) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in report.methods.split("\n\n"))
    files = (
        "<p>Files: responses.csv, descriptions.csv, participants.csv, table1.csv/.md/.tex, "
        "tests.csv (every test at full precision), concepts.csv, report.html.</p>"
    )
    return f'<div class="methods">{paragraphs}{files}</div>'


def _html_table(frame: pd.DataFrame, *, left: int = 1) -> str:
    """A plain HTML table; the first ``left`` columns left-aligned (labels), numbers rounded."""
    columns = list(frame.columns)
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{html.escape(str(c))}</th>'
        for i, c in enumerate(columns)
    )
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="{"l" if i < left else ""}">{html.escape(_cell(c, v))}</td>'
            for i, (c, v) in enumerate(zip(columns, row, strict=True))
        )
        body.append(f"<tr>{cells}</tr>")
    # A wide table scrolls sideways in its own box, so the page itself never does (phones).
    return (
        f'<div class="wide"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _cell(column: str, value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if column in P_VALUE_COLUMNS:
            return format_p(float(value))
        return f"{value:.4g}"
    return str(value)


# --- plots -------------------------------------------------------------------------------


def _plots(report: Report) -> str:
    figures: list[tuple[str, Callable[[Report], Figure | None]]] = [
        ("Per-group distributions of each measure (analysed participants).", _distributions),
        ("Accuracy per test-trial position (analysed participants).", _positions),
        ("Participants kept and excluded per group, by exclusion rule.", _exclusions),
        ("Time per trial: median response time per test-trial position.", _times),
    ]
    parts = []
    for caption, draw in figures:
        figure = draw(report)
        if figure is not None:
            parts.append(
                f'<figure><img alt="{html.escape(caption)}" src="{_png(figure)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    return "".join(parts)


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    # A fixed layout: "tight" boxes and constrained layout cost several extra draws.
    figure.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _scenarios(report: Report) -> list:
    return (
        list(dict.fromkeys(report.table1.summary[SCENARIO])) if len(report.table1.summary) else []
    )


def _distributions(report: Report) -> Figure | None:
    """One panel per measure; per group (scenario / reducer) a box plot and a sample of points."""
    kept = report.participants[~report.participants["excluded"]]
    measures = list(report.table1.measures.items())
    groups = [
        (scenario, reducer)
        for scenario in _scenarios(report)
        for reducer in report.table1.scenario_reducers(scenario)
    ]
    if len(kept) == 0 or not groups or not measures:
        return None
    columns = min(2, len(measures))
    rows = -(-len(measures) // columns)
    figure = Figure(figsize=(6.2 * columns, 2.9 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    keys = kept[SCENARIO].astype(str) + "\x1f" + kept[REDUCER].astype(str)
    by_group = {key: rows_ for key, rows_ in kept.groupby(keys, sort=False)}
    labels = [f"{s}\n{report.table1.label(r)}" for s, r in groups]
    for ax, (measure, label) in zip(axes, measures, strict=False):
        values = []
        for scenario, reducer in groups:
            rows_ = by_group.get(f"{scenario}\x1f{reducer}")
            column = rows_[measure] if rows_ is not None else pd.Series(dtype=float)
            values.append(pd.to_numeric(column, errors="coerce").dropna().to_numpy())
        _box_strip(ax, values, labels)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(measures) :]:
        ax.set_visible(False)
    figure.subplots_adjust(hspace=0.65, wspace=0.18, left=0.06, right=0.98, top=0.95, bottom=0.08)
    return figure


def _box_strip(ax, values: list[np.ndarray], labels: list[str]) -> None:
    positions = np.arange(1, len(values) + 1)
    present = [k for k, v in enumerate(values) if v.size]
    if present:
        ax.boxplot(
            [values[k] for k in present],
            positions=positions[present],
            widths=0.55,
            showfliers=False,
            medianprops={"color": "#1f6feb"},
        )
    rng = np.random.default_rng(0)  # jitter only; fixed so the page is reproducible
    for k, v in enumerate(values):
        if v.size:
            shown = v if v.size <= 400 else rng.choice(v, 400, replace=False)
            ax.scatter(
                positions[k] + rng.uniform(-0.18, 0.18, shown.size), shown, s=4, alpha=0.35, c="k"
            )
    ax.set_xticks(
        positions, [f"{lab}\n(n={v.size})" for lab, v in zip(labels, values, strict=True)]
    )


def _positions(report: Report) -> Figure | None:
    table = report.position_accuracy
    scenarios = _scenarios(report)
    if len(table) == 0 or not scenarios:
        return None
    figure = Figure(figsize=(3.4 * len(scenarios), 2.6), layout=None)
    axes = figure.subplots(1, len(scenarios), squeeze=False)[0]
    for ax, scenario in zip(axes, scenarios, strict=True):
        for reducer, rows in table[table[SCENARIO] == scenario].groupby(REDUCER, sort=False):
            ax.plot(
                rows["test_position"],
                rows[ACCURACY],
                marker="o",
                ms=3,
                label=report.table1.label(reducer),
            )
        ax.set_title(str(scenario), fontsize=9)
        ax.set_xlabel("test trial", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials are whole numbers
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("accuracy", fontsize=8)
    figure.tight_layout()
    return figure


def _exclusions(report: Report) -> Figure | None:
    scores = report.participants
    if len(scores) == 0:
        return None
    kind = np.select(
        [
            ~scores["excluded"],
            scores["exclusion_rule"].str.startswith("status"),
            scores["exclusion_rule"] == "no test responses",
        ],
        ["kept", "not completed", "no test responses"],
        "accuracy below threshold",
    )
    labels = (
        scores[SCENARIO].astype(str)
        + " / "
        + scores[REDUCER].map(lambda r: report.table1.reducer_labels.get(r, r)).astype(str)
    )
    counts = pd.crosstab(labels, kind)
    order = [  # Table 1's group order, not alphabetical
        f"{s} / {report.table1.label(r)}"
        for s in _scenarios(report)
        for r in report.table1.scenario_reducers(s)
    ]
    counts = counts.reindex(
        [g for g in order if g in counts.index] + sorted(set(counts.index) - set(order))
    )
    figure = Figure(figsize=(max(4.0, 0.6 * len(counts) + 2), 2.8), layout=None)
    ax = figure.subplots()
    bottom = np.zeros(len(counts))
    colours = {"kept": "#2da44e", "accuracy below threshold": "#cf222e"}
    for column in counts.columns:
        ax.bar(counts.index, counts[column], bottom=bottom, label=column, color=colours.get(column))
        bottom += counts[column].to_numpy()
    ax.set_ylabel("participants", fontsize=8)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.legend(fontsize=7, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    figure.tight_layout()
    return figure


def _times(report: Report) -> Figure | None:
    table = report.position_accuracy
    scenarios = _scenarios(report)
    if len(table) == 0 or not scenarios or table["rt_median_ms"].isna().all():
        return None
    figure = Figure(figsize=(3.4 * len(scenarios), 2.6), layout=None)
    axes = figure.subplots(1, len(scenarios), squeeze=False)[0]
    for ax, scenario in zip(axes, scenarios, strict=True):
        for reducer, rows in table[table[SCENARIO] == scenario].groupby(REDUCER, sort=False):
            ax.plot(
                rows["test_position"],
                rows["rt_median_ms"] / 1000,
                marker="o",
                ms=3,
                label=report.table1.label(reducer),
            )
        ax.set_title(str(scenario), fontsize=9)
        ax.set_xlabel("test trial", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("median time (s)", fontsize=8)
    figure.tight_layout()
    return figure
