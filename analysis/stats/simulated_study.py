"""A simulated study in the shape of the input frames, for the benchmark, tests and notebooks.

Participants are assigned round-robin to scenario × reducer groups. Each sees 5 training
and ``n_test`` test trials (one class each) with 5 candidate concepts; each concept has a
known part. A participant answers correctly with a probability set by their reducer (plus
individual ability; a share answers at random, which puts some below chance) and names
every candidate with the part's word, another common word, or (rarely) a made-up word.
Nothing here is a finding: the effects are the ones put in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

N_CANDIDATES = 5
N_TRAINING = 5
PART_WORDS = (
    "wheel", "eye", "beak", "fin", "window", "stripes", "spots", "antenna", "star", "ring",
    "zigzag", "checker", "roof", "ladder", "moon", "cross", "spiral", "heart", "arrow", "flower",
)  # fmt: skip
OTHER_WORDS = (
    "circle", "round", "line", "dark", "light", "red", "blue", "green", "shape", "pattern",
    "corner", "edge", "top", "bottom", "left", "right", "small", "big", "dots", "lines",
)  # fmt: skip
UNKNOWN_WORDS = ("blorptastic", "zzgrunk", "wheelish")
ACCURACY_BY_REDUCER = {"nmf": 0.72, "kmeans": 0.68, "pca": 0.45}
PART_NAMING_BY_REDUCER = {"nmf": 0.6, "kmeans": 0.55, "pca": 0.3}
ITEMS = ("confidence", "understanding", "satisfaction", "sufficiency", "completeness")


@dataclass(frozen=True)
class SimulatedStudy:
    """The five input frames of a simulated study (see :mod:`analysis.stats.frames`)."""

    responses: pd.DataFrame
    participants: pd.DataFrame
    descriptions: pd.DataFrame
    questionnaire: pd.DataFrame
    concepts: pd.DataFrame


def simulated_study(
    n_participants: int = 90,
    *,
    n_test: int = 15,
    scenarios: tuple[str, ...] = ("RI", "II", "RC"),
    reducers: tuple[str, ...] = ("nmf", "kmeans", "pca"),
    n_classes: int = 20,
    random_share: float = 0.08,
    seed: int = 0,
) -> SimulatedStudy:
    """Simulate a study (see the module docstring); the same ``seed`` gives the same frames."""
    n_trials = N_TRAINING + n_test
    if n_classes < n_trials:
        raise ValueError(f"n_classes={n_classes} must cover the {n_trials} trials per participant.")
    rng = np.random.default_rng(seed)
    n = n_participants
    scenario_of = np.arange(n) % len(scenarios)
    reducer_of = (np.arange(n) // len(scenarios)) % len(reducers)
    ids = np.array([f"P{i:06d}" for i in range(n)], dtype=object)
    scenario_names = np.array(scenarios, dtype=object)[scenario_of]
    reducer_names = np.array(reducers, dtype=object)[reducer_of]
    groups = scenario_names + "-" + reducer_names
    participants = pd.DataFrame(
        {
            "participant": ids,
            "group": groups,
            "scenario": scenario_names,
            "reducer": reducer_names,
            "status": "completed",
            "version_hash": "sim-" + pd.Series(reducer_names).str[:3].to_numpy(dtype=object),
            "platform": np.where(np.arange(n) % 2, "prolific", "mturk"),
        }
    )

    # Concepts: per (scenario, reducer, class) 5 candidates, each with a part and a target.
    n_groups = len(scenarios) * len(reducers)
    parts = rng.integers(0, len(PART_WORDS), size=(n_groups, n_classes, N_CANDIDATES))
    targets = rng.integers(0, N_CANDIDATES, size=(n_groups, n_classes))
    group_index = scenario_of * len(reducers) + reducer_of

    # Trials: classes 0..4 for training, then n_test classes in a per-participant order.
    test_order = np.argsort(rng.random((n, n_classes - N_TRAINING)), axis=1)[:, :n_test]
    classes = np.concatenate(
        [np.tile(np.arange(N_TRAINING), (n, 1)), test_order + N_TRAINING], axis=1
    )
    p_correct = np.array([ACCURACY_BY_REDUCER.get(r, 0.6) for r in reducers])[reducer_of]
    p_correct = np.clip(p_correct + rng.normal(0, 0.12, n), 0.05, 0.98)
    p_correct[rng.random(n) < random_share] = 1 / N_CANDIDATES * rng.uniform(0.3, 1.0)
    correct = rng.random((n, n_trials)) < p_correct[:, None]
    target = targets[group_index[:, None], classes]
    offset = rng.integers(1, N_CANDIDATES, size=(n, n_trials))
    chosen = np.where(correct, target, (target + offset) % N_CANDIDATES)
    shown = np.argsort(rng.random((n, n_trials, N_CANDIDATES)), axis=2)

    trials = _Trials(classes, target, chosen, correct, shown)
    responses = _responses(participants, trials, rng)
    descriptions = _descriptions(participants, classes, parts, group_index, reducers, rng)
    questionnaire = _questionnaire(ids, p_correct, rng)
    concepts = _concepts(scenarios, reducers, parts)
    return SimulatedStudy(responses, participants, descriptions, questionnaire, concepts)


def _concept_ids(scenario, reducer, class_index, candidate) -> np.ndarray:
    return (
        pd.Series(scenario).astype(str)
        + "-"
        + pd.Series(reducer).astype(str)
        + "-c"
        + pd.Series(class_index).astype(str)
        + "-"
        + pd.Series(candidate).astype(str)
    ).to_numpy(dtype=object)


@dataclass(frozen=True)
class _Trials:
    """Per participant and trial (shape (n, n_trials)): class, target and chosen candidate,
    correctness; and the order the 5 candidates were shown in (n, n_trials, 5)."""

    classes: np.ndarray
    target: np.ndarray
    chosen: np.ndarray
    correct: np.ndarray
    shown: np.ndarray


def _responses(
    participants: pd.DataFrame, trials: _Trials, rng: np.random.Generator
) -> pd.DataFrame:
    classes, shown = trials.classes, trials.shown
    n, n_trials = classes.shape
    rows = np.repeat(np.arange(n), n_trials)
    flat_classes = classes.ravel()
    scenario = participants["scenario"].to_numpy()[rows]
    reducer = participants["reducer"].to_numpy()[rows]
    position = np.tile(np.arange(1, n_trials + 1), n)
    phase = np.where(position <= N_TRAINING, "training", "test").astype(object)
    order_codes = shown.reshape(-1, N_CANDIDATES)
    unique_orders, inverse = np.unique(order_codes, axis=0, return_inverse=True)
    order_text = np.array(["|".join(map(str, o)) for o in unique_orders], dtype=object)
    return pd.DataFrame(
        {
            "participant": participants["participant"].to_numpy()[rows],
            "group": participants["group"].to_numpy()[rows],
            "scenario": scenario,
            "reducer": reducer,
            "version_hash": participants["version_hash"].to_numpy()[rows],
            "phase": phase,
            "position": position,
            "trial_id": _concept_ids(scenario, reducer, flat_classes, "trial"),
            "class_name": np.array([f"class{c:02d}" for c in range(classes.max() + 1)])[
                flat_classes
            ],
            "target_concept": _concept_ids(scenario, reducer, flat_classes, trials.target.ravel()),
            "chosen_concept": _concept_ids(scenario, reducer, flat_classes, trials.chosen.ravel()),
            "correct": trials.correct.ravel(),
            "rt_ms": np.round(rng.lognormal(np.log(9000), 0.5, n * n_trials)).astype(np.int64),
            "shown_order": order_text[inverse.ravel()],
            "revisits": np.where(phase == "test", rng.poisson(0.15, n * n_trials), 0),
        }
    )


def _descriptions(
    participants: pd.DataFrame,
    classes: np.ndarray,
    parts: np.ndarray,
    group_index: np.ndarray,
    reducer_names: tuple[str, ...],
    rng: np.random.Generator,
) -> pd.DataFrame:
    ids = participants["participant"].to_numpy()
    scenarios = participants["scenario"].to_numpy()
    reducers = participants["reducer"].to_numpy()
    n, n_trials = classes.shape
    size = n * n_trials * N_CANDIDATES
    rows = np.repeat(np.arange(n), n_trials * N_CANDIDATES)
    flat_classes = np.repeat(classes.ravel(), N_CANDIDATES)
    candidate = np.tile(np.arange(N_CANDIDATES), n * n_trials)
    part = parts[group_index[rows], flat_classes, candidate]
    p_part = np.array([PART_NAMING_BY_REDUCER.get(r, 0.5) for r in reducer_names])
    uses_part = rng.random(size) < p_part[_reducer_codes(reducers, reducer_names)[rows]]
    words = np.where(
        uses_part,
        np.array(PART_WORDS, dtype=object)[part],
        np.array(OTHER_WORDS, dtype=object)[rng.integers(0, len(OTHER_WORDS), size)],
    )
    unknown = rng.random(size) < 0.03
    made_up = rng.integers(0, len(UNKNOWN_WORDS), int(unknown.sum()))
    words[unknown] = np.array(UNKNOWN_WORDS, dtype=object)[made_up]
    two_words = rng.random(size) < 0.25
    prefix = np.array(OTHER_WORDS, dtype=object)[rng.integers(0, len(OTHER_WORDS), size)]
    texts = np.where(two_words, prefix + " " + words, words)
    scenario, reducer = scenarios[rows], reducers[rows]
    return pd.DataFrame(
        {
            "participant": ids[rows],
            "scenario": scenario,
            "reducer": reducer,
            "concept": _concept_ids(scenario, reducer, flat_classes, candidate),
            "text": texts,
        }
    )


def _reducer_codes(reducers: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[r] for r in reducers], dtype=np.int64)


def _questionnaire(ids, p_correct, rng) -> pd.DataFrame:
    n = len(ids)
    base = 2 + 4 * p_correct[:, None] + rng.normal(0, 1.0, (n, len(ITEMS)))
    values = np.clip(np.round(base), 1, 7).astype(np.int64)
    return pd.DataFrame(
        {
            "participant": np.repeat(ids, len(ITEMS)),
            "item": np.tile(np.array(ITEMS, dtype=object), n),
            "value": values.ravel(),
        }
    )


def _concepts(scenarios, reducers, parts) -> pd.DataFrame:
    n_groups, n_classes, k = parts.shape
    g, c, j = np.meshgrid(np.arange(n_groups), np.arange(n_classes), np.arange(k), indexing="ij")
    g, c, j = g.ravel(), c.ravel(), j.ravel()
    scenario = np.array(scenarios, dtype=object)[g // len(reducers)]
    reducer = np.array(reducers, dtype=object)[g % len(reducers)]
    return pd.DataFrame(
        {
            "scenario": scenario,
            "reducer": reducer,
            "concept": _concept_ids(scenario, reducer, c, j),
            "class_name": np.array([f"class{i:02d}" for i in range(n_classes)])[c],
            "best_part": np.array(PART_WORDS, dtype=object)[parts.ravel()],
        }
    )
