"""The whole analysis of a study, from the input frames to the files a researcher publishes.

:func:`build_report` computes everything and returns a :class:`Report` (frames, Table 1,
tests, notes, the methods paragraph, the time of each stage); :func:`write_report` writes
it to a folder:

- ``responses.csv``: one row per trial response, with what was shown where;
- ``descriptions.csv``: one row per description, with its word counts and similarity;
- ``participants.csv``: pseudonymised ID, group, version hash, scores, questionnaire
  items (``q_<item>``), exclusion and its rule, bonus;
- ``table1.csv``, ``table1.md``, ``table1.tex``: the paper's Table 1;
- ``tests.csv``: every test behind Table 1 at full precision, with the robustness tests;
- ``concepts.csv``: per-concept results (matched, named, agreement with the known part);
- ``report.html``: one self-contained page with the tables, plots and methods.

Bad input never crashes the report: it is stated in ``Report.notes`` (shown at the top of
the page) and the rest is still produced. Errors in the *shape* of the input (a missing
column) do raise, naming the column and the fix.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .concept_results import concept_results
from .frames import (
    DESCRIPTIONS,
    PARTICIPANT,
    PHASE,
    QUESTIONNAIRE,
    REDUCER,
    SCENARIO,
    TEST,
    check_frame,
    empty_frame,
)
from .mixed_model import group_mixed_model
from .planning import EffectTooSmall, cohens_f_from_eta_squared, sample_size_per_group
from .pseudonyms import pseudonym_map
from .scoring import ScoringRules, accuracy_by_position, participant_scores, questionnaire_scores
from .similarity import SimilarityResult, description_similarity, embed_texts
from .table1 import DEFAULT_REDUCER_LABELS, DEFAULT_REDUCER_ORDER, Table1, build_table1
from .word_vectors import BUNDLED, WordVectors, WordVectorsUnavailable, load_word_vectors

ACCURACY = "accuracy"
SIMILARITY = "description_similarity"
QUESTION_PREFIX = "q_"
_UNSET = object()


@dataclass(frozen=True)
class ReportSettings:
    """Every choice the report makes, stated in its methods paragraph.

    Attributes
    ----------
    title, study : the page title and the study's name or slug.
    rules : exclusion and bonus rules.
    word_vectors : a word-vector source (see :mod:`analysis.stats.word_vectors`);
        ``None`` or ``"none"`` for no description similarity.
    alpha : significance level (gates the pairwise tests, Games–Howell).
    correction : multiple-comparison correction of the pairwise t-tests.
    reducer_order, reducer_labels : row order and labels of Table 1.
    decimals : decimals of means and sds in Table 1.
    power : the power the planning table aims for.
    pseudonym_key : HMAC key for participant IDs (never written, never shown); ``None``
        keeps the caller's IDs, which must then already be pseudonymous.
    """

    title: str = "ICE Lab study report"
    study: str = ""
    rules: ScoringRules = field(default_factory=ScoringRules)
    word_vectors: str | Path | None = BUNDLED
    alpha: float = 0.05
    correction: str = "bonferroni"
    reducer_order: Sequence[str] = DEFAULT_REDUCER_ORDER
    reducer_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_REDUCER_LABELS))
    decimals: int = 2
    power: float = 0.8
    pseudonym_key: bytes | str | None = field(default=None, repr=False)


@dataclass
class Report:
    """The computed report (see the module docstring for what each file holds)."""

    settings: ReportSettings
    participants: pd.DataFrame
    responses: pd.DataFrame
    descriptions: pd.DataFrame
    table1: Table1
    mixed_models: pd.DataFrame
    planning: pd.DataFrame
    position_accuracy: pd.DataFrame
    concepts: pd.DataFrame
    unknown_words: pd.DataFrame
    vectors_description: str | None
    questionnaire_items: list[str]
    notes: list[str]
    generated_at: str
    timings: dict[str, float] = field(default_factory=dict)
    cpu_timings: dict[str, float] = field(default_factory=dict)

    @property
    def methods(self) -> str:
        from .methods import methods_paragraph

        return methods_paragraph(self)


Progress = Callable[[float, str], None]
# Stages in order, with their rough share of the work (from benchmarks/analysis.py), so a
# progress bar moves evenly: progress(fraction, step) is called as each stage starts.
_STAGES = {
    "scoring": 0.02,
    "questionnaire": 0.01,
    "word_vectors": 0.04,
    "similarity": 0.12,
    "table1": 0.12,
    "mixed_model": 0.07,
    "planning": 0.01,
    "positions": 0.02,
    "concepts": 0.12,
    "word_counts": 0.01,
    "pseudonymise": 0.01,
    "write_files": 0.29,
    "report_html": 0.16,
}


class _Stopwatch:
    """Runs the stages: wall-clock and CPU seconds per stage (CPU time is what a shared
    machine cannot inflate), and the caller's ``progress(fraction, step)``."""

    def __init__(self, report: Report | None = None, progress: Progress | None = None) -> None:
        self.timings: dict[str, float] = report.timings if report else {}
        self.cpu_timings: dict[str, float] = report.cpu_timings if report else {}
        self.progress = progress

    def run(self, name: str, function: Callable, *args, **kwargs):
        if self.progress is not None:
            done = sum(share for stage, share in _STAGES.items() if stage in self.timings)
            self.progress(min(done, 1.0), name.replace("_", " "))
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            self.timings[name] = round(time.perf_counter() - started, 4)
            self.cpu_timings[name] = round(time.process_time() - cpu_started, 4)


def build_report(
    *,
    responses: pd.DataFrame,
    participants: pd.DataFrame | None = None,
    descriptions: pd.DataFrame | None = None,
    questionnaire: pd.DataFrame | None = None,
    concepts: pd.DataFrame | None = None,
    settings: ReportSettings | None = None,
    vectors: WordVectors | None | object = _UNSET,
    progress: Progress | None = None,
) -> Report:
    """Score, test and describe a study (see the module docstring).

    Parameters
    ----------
    responses, participants, descriptions, questionnaire, concepts : the input frames of
        :mod:`analysis.stats.frames` (all but ``responses`` optional).
    settings : the report's choices (default :class:`ReportSettings`).
    vectors : already loaded word vectors, or None for none; by default they are loaded
        from ``settings.word_vectors``.
    progress : optional ``progress(fraction, step)``, called as each stage starts (the
        fraction covers building and writing; :func:`write_report` continues it).
    """
    settings = settings or ReportSettings()
    watch = _Stopwatch(progress=progress)
    notes: list[str] = []
    descriptions = empty_frame(DESCRIPTIONS) if descriptions is None else descriptions
    questionnaire = empty_frame(QUESTIONNAIRE) if questionnaire is None else questionnaire
    check_frame(descriptions, DESCRIPTIONS)

    scores = watch.run("scoring", participant_scores, responses, participants, rules=settings.rules)
    notes.extend(_scoring_notes(scores))
    scores, item_names = watch.run(
        "questionnaire", _with_questionnaire, scores, questionnaire, notes
    )

    if vectors is _UNSET:
        vectors = watch.run("word_vectors", _load_vectors, settings.word_vectors, notes)
    kept = scores.set_index(PARTICIPANT)["excluded"].eq(False)
    kept_responses = responses[responses[PARTICIPANT].map(kept).fillna(False).astype(bool)]
    kept_descriptions = descriptions[descriptions[PARTICIPANT].map(kept).fillna(False).astype(bool)]
    # Excluded participants are excluded from the results, their descriptions included.
    similarity = watch.run("similarity", _similarity, kept_descriptions, vectors, notes)
    scores = _join_similarity(scores, similarity)

    measures = _measures(scores, item_names, similarity, notes)
    table = watch.run(
        "table1",
        build_table1,
        scores,
        measures,
        reducer_order=settings.reducer_order,
        reducer_labels=settings.reducer_labels,
        alpha=settings.alpha,
        correction=settings.correction,
        decimals=settings.decimals,
    )
    notes.extend(table.notes)
    mixed = watch.run("mixed_model", _mixed_models, responses, kept, settings, notes)
    planning = watch.run("planning", _planning, table, settings, notes)
    positions = watch.run("positions", accuracy_by_position, responses, kept)
    concept_table = watch.run(
        "concepts",
        _concept_table,
        kept_responses,
        kept_descriptions,
        concepts,
        vectors,
        similarity,
        table,
    )
    counted = watch.run("word_counts", _with_word_counts, descriptions, vectors)
    published = watch.run(
        "pseudonymise",
        _pseudonymise,
        settings.pseudonym_key,
        scores,
        responses,
        counted,
    )
    return Report(
        settings=settings,
        participants=published[0],
        responses=published[1],
        descriptions=published[2],
        table1=table,
        mixed_models=mixed,
        planning=planning,
        position_accuracy=positions,
        concepts=concept_table,
        unknown_words=similarity.unknown_words if similarity is not None else pd.DataFrame(),
        vectors_description=vectors.description if vectors is not None else None,
        questionnaire_items=[str(i) for i in item_names],
        notes=notes,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        timings=watch.timings,
        cpu_timings=watch.cpu_timings,
    )


def _with_questionnaire(
    scores: pd.DataFrame, questionnaire: pd.DataFrame, notes: list[str]
) -> tuple[pd.DataFrame, list]:
    """Scores with one ``q_<item>`` column per questionnaire item, and the items."""
    items = questionnaire_scores(questionnaire)
    names = [c for c in items.columns if c != PARTICIPANT]
    if len(questionnaire) == 0:
        notes.append("No questionnaire answers were given; the questionnaire items are absent.")
    renamed = items.rename(columns={i: QUESTION_PREFIX + str(i) for i in names})
    return scores.merge(renamed, on=PARTICIPANT, how="left"), names


def _concept_table(
    responses: pd.DataFrame,
    descriptions: pd.DataFrame,
    concepts: pd.DataFrame | None,
    vectors: WordVectors | None,
    similarity: SimilarityResult | None,
    table: Table1,
) -> pd.DataFrame:
    """Per-concept results in Table 1's order, with each concept's description similarity."""
    result = _in_table_order(
        concept_results(responses, descriptions, concepts, vectors=vectors), table
    )
    if similarity is None:
        return result
    key = [SCENARIO, REDUCER, "concept"]
    per_concept = similarity.per_concept.rename(columns={"similarity": SIMILARITY})
    return result.merge(per_concept[[*key, SIMILARITY]], on=key, how="left")


def _in_table_order(frame: pd.DataFrame, table: Table1) -> pd.DataFrame:
    """Rows by scenario and reducer in Table 1's order, then class and concept."""
    rank = {
        (scenario, reducer): i
        for i, (scenario, reducer) in enumerate(
            (s, r) for s in table.scenarios() for r in table.scenario_reducers(s)
        )
    }
    keys = [rank.get(k, len(rank)) for k in zip(frame[SCENARIO], frame[REDUCER], strict=True)]
    ordered = frame.assign(
        _rank=keys, _class=frame["class_name"].astype(str), _concept=frame["concept"].astype(str)
    ).sort_values(["_rank", "_class", "_concept"], kind="stable")
    return ordered.drop(columns=["_rank", "_class", "_concept"]).reset_index(drop=True)


def _scoring_notes(scores: pd.DataFrame) -> list[str]:
    notes = []
    if len(scores) == 0:
        return ["There are no participants: every table is empty."]
    excluded = scores["excluded"]
    if excluded.all():
        notes.append(
            f"Every participant ({len(scores):,}) is excluded, so no measure has values and no "
            "test is run; see participants.csv for each exclusion rule."
        )
    no_group = scores[[SCENARIO, REDUCER]].isna().any(axis=1)
    if no_group.any():
        notes.append(f"{int(no_group.sum())} participant(s) have no scenario or reducer.")
    return notes


def _load_vectors(source: str | Path | None, notes: list[str]) -> WordVectors | None:
    try:
        vectors = load_word_vectors(source)
    except WordVectorsUnavailable as error:
        notes.append(
            f"Word vectors are configured but could not be read, so description similarity is "
            f"not reported: {error}"
        )
        return None
    if vectors is None:
        notes.append(
            "No word vectors are configured (ICELAB_WORD_VECTORS is empty or 'none'), so "
            "description similarity is not computed."
        )
    elif vectors.coarse:
        notes.append(f"Description similarity uses coarse word vectors: {vectors.description}.")
    return vectors


def _similarity(
    descriptions: pd.DataFrame, vectors: WordVectors | None, notes: list[str]
) -> SimilarityResult | None:
    if vectors is None:
        return None
    result = description_similarity(descriptions, vectors)
    notes.extend(result.notes)
    return result


def _with_word_counts(descriptions: pd.DataFrame, vectors: WordVectors | None) -> pd.DataFrame:
    """All descriptions (excluded participants' too) with n_words and n_unknown."""
    if vectors is None or len(descriptions) == 0:
        return descriptions
    text = descriptions["text"]
    codes, texts = pd.factorize(text.where(text.notna(), "").astype(str))
    _, counts = embed_texts(list(texts), vectors)
    return descriptions.assign(
        n_words=counts[codes, 0], n_unknown=counts[codes, 0] - counts[codes, 1]
    )


def _join_similarity(scores: pd.DataFrame, similarity: SimilarityResult | None) -> pd.DataFrame:
    if similarity is None:
        return scores.assign(**{SIMILARITY: np.nan, "n_descriptions": np.nan})
    per = similarity.per_participant.set_index(PARTICIPANT)
    return scores.assign(
        **{
            SIMILARITY: scores[PARTICIPANT].map(per[SIMILARITY]),
            "n_descriptions": scores[PARTICIPANT].map(per["n_descriptions"]).fillna(0),
            "n_unknown_words": scores[PARTICIPANT].map(per["n_unknown_words"]).fillna(0),
        }
    )


def _measures(
    scores: pd.DataFrame, items: list, similarity: SimilarityResult | None, notes: list[str]
) -> dict[str, str]:
    """Table 1's measures: accuracy, description similarity, then each questionnaire item.

    A measure without any value among kept participants is left out, with a note (none for
    similarity without vectors: the vectors' note already says why).
    """
    candidates = {ACCURACY: "Accuracy", SIMILARITY: "Description similarity"}
    for item in items:
        label = str(item)[:1].upper() + str(item)[1:]
        # Table 1 keys its columns by label: an item named like a measure (the explanation
        # satisfaction scale has an "accuracy" item) must not take the measure's column.
        if label in candidates.values():
            label = f"{label} (questionnaire)"
        candidates[QUESTION_PREFIX + str(item)] = label
    kept = scores[~scores["excluded"]]
    if len(kept) == 0:
        return {ACCURACY: "Accuracy"}
    measures = {}
    for column, label in candidates.items():
        if pd.to_numeric(kept[column], errors="coerce").notna().any():
            measures[column] = label
        elif column != SIMILARITY or similarity is not None:
            notes.append(f"{label} has no value for any kept participant; left out of Table 1.")
    return measures


def _mixed_models(
    responses: pd.DataFrame, kept: pd.Series, settings: ReportSettings, notes: list[str]
) -> pd.DataFrame:
    test = responses[
        (responses[PHASE] == TEST) & responses[PARTICIPANT].map(kept).fillna(False).astype(bool)
    ]
    frames = []
    for scenario, rows in test.groupby(SCENARIO, sort=False):
        order = [r for r in settings.reducer_order if r in set(rows[REDUCER])]
        order += sorted(set(rows[REDUCER]) - set(order), key=str)
        if len(order) < 2:
            notes.append(f"{scenario}: the mixed model needs two reducers; not fitted.")
            continue
        try:
            fit = group_mixed_model(
                rows["correct"].astype(float), rows[REDUCER], rows[PARTICIPANT], order=order
            )
        except (ValueError, np.linalg.LinAlgError) as error:
            notes.append(f"{scenario}: the mixed model could not be fitted ({error}).")
            continue
        frames.append(
            fit.coefficients.assign(
                scenario=scenario,
                participant_variance=fit.group_variance,
                residual_variance=fit.residual_variance,
                n_trials=fit.n_observations,
                n_participants=fit.n_groups,
                wald_chi2=fit.wald_chi2,
                wald_df=fit.wald_df,
                wald_p=fit.wald_p,
            )
        )
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    return table[["scenario", *[c for c in table.columns if c != "scenario"]]]


def _planning(table: Table1, settings: ReportSettings, notes: list[str]) -> pd.DataFrame:
    """Participants per group needed to detect each observed ANOVA effect (η² -> Cohen's f).

    An effect too small for any affordable design (near-identical groups) keeps its row with
    no size, and a note says why, rather than stopping the whole report."""
    rows = []
    for row in table.anova.dropna(subset=["eta_squared"]).itertuples(index=False):
        if not 0 < row.eta_squared < 1:
            continue
        f = cohens_f_from_eta_squared(row.eta_squared)
        k = len(str(row.reducers_tested).split(", "))
        try:
            size = sample_size_per_group(f, n_groups=k, alpha=settings.alpha, power=settings.power)
        except EffectTooSmall as error:
            notes.append(
                f"{row.scenario}, {table.measures[row.measure]}: the observed effect "
                f"(η² = {row.eta_squared:.3g}) is too small to plan for: more than "
                f"{error.limit:,} participants per group would be needed."
            )
            size = None
        rows.append(
            {
                "scenario": row.scenario,
                "measure": table.measures[row.measure],
                "eta_squared": row.eta_squared,
                "cohens_f": f,
                "groups": k,
                "per_group": size.per_group if size else None,
                "power_reached": size.power if size else float("nan"),
            }
        )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["per_group"] = frame["per_group"].astype("Int64")  # whole people, blank if none
    return frame


def _pseudonymise(key: bytes | str | None, *frames: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    if key is None:
        return frames
    mapping = pseudonym_map(frames[0][PARTICIPANT], key)
    out = []
    for frame in frames:
        missing = ~frame[PARTICIPANT].isin(mapping.keys())
        if missing.any():
            mapping.update(pseudonym_map(frame.loc[missing, PARTICIPANT], key))
        out.append(frame.assign(**{PARTICIPANT: frame[PARTICIPANT].map(mapping)}))
    return tuple(out)


def write_report(
    report: Report, out_dir: str | Path, *, progress: Progress | None = None
) -> dict[str, Path]:
    """Write the report's files into ``out_dir`` (created if needed); returns name -> path.

    Each file is written to a temporary name in ``out_dir`` and renamed into place, so a
    reader never sees half a file.
    """
    from .report_html import render_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = report.table1
    watch = _Stopwatch(report, progress)
    contents: dict[str, Callable[[], str]] = {
        "responses.csv": lambda: report.responses.to_csv(index=False),
        "descriptions.csv": lambda: _description_rows(report.descriptions).to_csv(index=False),
        "participants.csv": lambda: report.participants.to_csv(index=False),
        "table1.csv": lambda: table.layout().to_csv(index=False),
        "table1.md": table.to_markdown,
        "table1.tex": table.to_latex,
        "tests.csv": lambda: tests_frame(report).to_csv(index=False),
        "concepts.csv": lambda: report.concepts.to_csv(index=False),
    }

    def write_files() -> dict[str, Path]:
        return {name: _write_atomic(out / name, render()) for name, render in contents.items()}

    paths = watch.run("write_files", write_files)
    paths["report.html"] = watch.run(
        "report_html", lambda: _write_atomic(out / "report.html", render_html(report))
    )
    if progress is not None:
        progress(1.0, "done")
    return paths


def _description_rows(descriptions: pd.DataFrame) -> pd.DataFrame:
    """descriptions.csv: what was typed, with its word counts. Similarity is published per
    participant (participants.csv) and per concept (concepts.csv); a million per-description
    floats would double the file and its writing time."""
    return descriptions.drop(columns=["n_known", "embedded", "similarity"], errors="ignore")


def tests_frame(report: Report) -> pd.DataFrame:
    """Every test of the report in one long frame at full precision (``tests.csv``)."""
    table = report.table1
    anova = table.anova.assign(test="one-way ANOVA (+ Welch, Levene)")
    pairs = table.pairwise.assign(test=f"t-test ({table.correction})")
    howell = table.games_howell.assign(test="Games-Howell")
    mixed = report.mixed_models.assign(test="mixed model: correct ~ reducer + (1 | participant)")
    frames = [f for f in (anova, pairs, howell, mixed) if len(f)]
    if not frames:
        return pd.DataFrame(columns=["test"])
    combined = pd.concat(frames, ignore_index=True)
    return combined[["test", *[c for c in combined.columns if c != "test"]]]


def _write_atomic(path: Path, text: str) -> Path:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; reports are meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
