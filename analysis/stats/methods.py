"""The methods paragraph of a report: every choice the analysis made, in plain words."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report

SOFTWARE = ("numpy", "pandas", "scipy", "statsmodels", "gensim", "matplotlib")


def software_versions() -> dict[str, str]:
    """Python and the numerical libraries the analysis ran on."""
    versions = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def methods_paragraph(report: Report) -> str:
    """One paragraph per topic (participants, measures, tests, robustness, software)."""
    return "\n\n".join(
        [
            _participants(report),
            _measures(report),
            _tests(report),
            _robustness(report),
            _software(),
        ]
    )


def _participants(report: Report) -> str:
    scores = report.participants
    settings = report.settings
    total, excluded = len(scores), int(scores["excluded"].sum()) if len(scores) else 0
    rules = scores.loc[scores["excluded"], "exclusion_rule"] if total else []
    by_kind = {
        "status not completed": sum(r.startswith("status") for r in rules),
        "no test responses": sum(r == "no test responses" for r in rules),
        "accuracy below the threshold": sum(r.startswith("test accuracy") for r in rules),
    }
    listed = ", ".join(f"{n} for {kind}" for kind, n in by_kind.items() if n) or "none"
    ids = (
        "Participant IDs are pseudonymised with HMAC-SHA256 under a key held by the "
        "researcher (first 16 hex digits)."
        if settings.pseudonym_key is not None
        else "Participant IDs are as provided by the platform database (not re-keyed)."
    )
    bonus = int(scores["bonus"].sum()) if total else 0
    return (
        f"Participants. {total:,} participants; {excluded:,} excluded ({listed}), "
        f"{total - excluded:,} analysed. Rules: {settings.rules.describe()}. "
        f"{bonus:,} participants qualify for the bonus. {ids}"
    )


def _measures(report: Report) -> str:
    parts = [
        "Measures. Accuracy is the share of a participant's test trials answered correctly "
        "(training trials, which reveal the answer, are not scored)."
    ]
    if report.vectors_description is None:
        parts.append("Description similarity was not computed (no readable word vectors).")
    else:
        n_words = (
            int(report.descriptions.get("n_words", []).sum()) if len(report.descriptions) else 0
        )
        n_unknown = int(report.unknown_words["count"].sum()) if len(report.unknown_words) else 0
        parts.append(
            "Description similarity (analysed participants' descriptions only): each "
            "description is lower-cased and split into words (runs of letters and digits); "
            "its embedding is the mean of its known words' vectors. Vectors: "
            f"{report.vectors_description}. {n_unknown:,} of {n_words:,} words "
            f"({n_unknown / max(n_words, 1):.1%}) were not in the vocabulary and were ignored; "
            "descriptions without a known word were left out. Per concept, the mean cosine "
            "similarity over pairs of descriptions by different participants; per participant, "
            "the mean over the concepts they described of the mean cosine between their "
            "description and the other participants' descriptions of that concept."
        )
    if report.questionnaire_items:
        parts.append(
            "Questionnaire items ("
            + ", ".join(report.questionnaire_items)
            + ") are analysed as given (one numeric answer per item)."
        )
    parts.append("Only analysed (not excluded) participants enter Table 1 and the tests.")
    return " ".join(parts)


def _tests(report: Report) -> str:
    table = report.table1
    return (
        "Tests (as in the paper). Per scenario and measure, a one-way ANOVA across reducers "
        "(Fisher's F, with η² = SS_between / SS_total); where its p < "
        f"{table.alpha:g}, two-sided Student's t-tests for every pair of reducers (pooled "
        f"variance of the pair), {table.correction.capitalize()}-corrected over the pairs of "
        "that scenario "
        "and measure, with Cohen's d (pooled sd) and the 95% confidence interval of the "
        "difference of means. A reducer with fewer than two analysed participants is left out "
        "of that scenario's tests. p-values are shown to three decimals, '<0.001' below that."
    )


def _robustness(report: Report) -> str:
    return (
        "Robustness (reported beside the paper's tests, never instead of them). Levene's test "
        "of equal variances (median-centred, Brown–Forsythe); Welch's ANOVA; Games–Howell "
        f"pairwise comparisons where Levene's p < {report.table1.alpha:g}. A linear mixed "
        "model per scenario of trial-level correctness (test trials of analysed participants) "
        "on reducer (treatment coding, the first reducer as reference) with a random "
        "intercept per participant, fitted by REML; Wald z-tests per coefficient and a Wald "
        "chi-squared test of the reducer effect. Planning: participants per group needed to "
        f"detect each observed ANOVA effect (Cohen's f from η²) with power {report.settings.power:g} "
        "at the same alpha (statsmodels FTestAnovaPower)."
    )


def _software() -> str:
    versions = ", ".join(f"{name} {version}" for name, version in software_versions().items())
    return f"Software. ICE Lab analysis.stats on {versions}."
