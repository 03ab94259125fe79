"""Sampling rules for the stimuli of the human-subject study (DESIGN.md "The study, exactly").

Pure functions over arrays and seeds; the Django app stores what they return.

- 20 classes are drawn per scenario; the draw depends only on the dataset's class
  names and the seed, so every reducer built with the same seed gets the same classes.
- Per class, the explainer has c' = 10 concepts; the 5 with the highest weight for the
  class are the candidates; one candidate is drawn as the target.
- The target image is drawn from the top 10% of the class's test images by the target
  concept's score.
- Each candidate is shown with its 5 prototypes: the class's training images with the
  highest score for that concept.
- The first 5 trials (in draw order) are training trials, the other 15 test trials.

Every draw comes from a numpy Generator derived from ONE stored seed through
``SeedSequence(seed, spawn_key=...)``: the class draw and each trial's draws are
separate streams, so a set can be rebuilt exactly from the seed, and the draws of
one trial never depend on what another trial drew.

Draw rules. A stimulus set records the rule that built it, so an old set can be
rebuilt exactly:

- ``"v2"`` (current): the target concept and the target image come from a stream
  keyed by (seed, reducer, trial position), so they are drawn independently per
  reducer, as in the paper; the classes stay shared (their stream is keyed by the
  seed only). An image whose map for a concept is blank (its heatmap highlights
  nothing, :func:`explainers.ice.heatmaps.blank_maps`) is never that concept's
  prototype or target image; a candidate none of whose top-10% test images shows
  it cannot be the target.
- ``"v1"`` (sets built before issue 8): the stream was keyed by (seed, position)
  only, so every reducer of a seed drew the same target rank among its candidates
  and the same rank in the top-10% pool, and blank maps were not excluded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .prototypes import top_prototypes, visible_prototypes

N_CLASSES = 20
N_TRAINING = 5
N_CANDIDATES = 5
N_PROTOTYPES = 5
TOP_FRACTION = 0.1
TRAINING = "training"
TEST = "test"

DRAW_RULE_V1 = "v1"
DRAW_RULE_V2 = "v2"
DRAW_RULES = (DRAW_RULE_V1, DRAW_RULE_V2)
CURRENT_DRAW_RULE = DRAW_RULE_V2

_CLASSES_STREAM = 0
_TRIAL_STREAM = 1  # draw rule v1: (seed, 1, position)
_TARGET_STREAM = 2  # draw rule v2: (seed, 2, reducer, position)


@dataclass(frozen=True)
class CandidatePlan:
    """One candidate concept of a trial: its index, its weight for the class, its prototypes."""

    concept: int
    weight: float
    prototypes: tuple[int, ...]  # indices into the class's training images, best first


@dataclass(frozen=True)
class TrialPlan:
    """Everything drawn for one trial; image indices refer to the arrays passed in."""

    position: int
    phase: str
    class_name: str
    target_concept: int
    target_image: int  # index into the class's test images
    target_percentile: float
    candidates: tuple[CandidatePlan, ...]  # by descending weight; shuffling is the display's job
    concept_weights: tuple[float, ...]  # the class weight of every concept (c',)


def random_stream(seed: int, *key: int) -> np.random.Generator:
    """A Generator for one purpose (``key``) derived from the stored ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(
            f"seed={seed!r}; pass a non-negative integer and store it with what it produced."
        )
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(key)))


def target_stream(seed: int, *, reducer: str, position: int) -> np.random.Generator:
    """The stream of one trial's target draws under draw rule v2: keyed by reducer and position.

    The reducer enters the key as the integer whose big-endian bytes are its UTF-8
    name, so each reducer gets its own stream and custom reducer names work too.
    """
    if not isinstance(reducer, str) or not reducer:
        raise ValueError(
            f"reducer={reducer!r}; pass the reducer's name (e.g. 'nmf'): draw rule "
            f"{DRAW_RULE_V2!r} draws the target per reducer."
        )
    key = int.from_bytes(reducer.encode("utf-8"), "big")
    return random_stream(seed, _TARGET_STREAM, key, position)


def draw_classes(class_names: Sequence[str], n_classes: int = N_CLASSES, *, seed: int) -> list[str]:
    """Draw ``n_classes`` distinct classes, in trial order.

    The names are sorted before drawing, so the result depends only on the set of
    names and the seed (not on the order a folder listing returned them).

    Raises
    ------
    ValueError
        When the dataset has fewer classes than requested (the message gives both counts).
    """
    names = sorted(str(name) for name in class_names)
    if len(set(names)) != len(names):
        raise ValueError("class_names contains duplicates; pass each class name once.")
    _check_count(n_classes, name="n_classes")
    if len(names) < n_classes:
        raise ValueError(
            f"the dataset has {len(names)} classes but a stimulus set needs {n_classes}; "
            f"use a dataset with at least {n_classes} classes or lower n_classes."
        )
    order = random_stream(seed, _CLASSES_STREAM).permutation(len(names))[:n_classes]
    return [names[i] for i in order]


def trial_phases(n_trials: int = N_CLASSES, n_training: int = N_TRAINING) -> list[str]:
    """Phase of each trial in order: ``n_training`` training trials, then test trials."""
    _check_count(n_trials, name="n_trials")
    if (
        isinstance(n_training, bool)
        or not isinstance(n_training, int)
        or not 0 <= n_training < n_trials
    ):
        raise ValueError(
            f"n_training={n_training!r} with {n_trials} trials; pass 0 <= n_training < {n_trials} "
            "so that at least one test trial remains."
        )
    return [TRAINING] * n_training + [TEST] * (n_trials - n_training)


def choose_candidates(
    class_weights: np.ndarray | torch.Tensor, k: int = N_CANDIDATES
) -> np.ndarray:
    """Indices of the ``k`` concepts with the highest weight for the class, highest first.

    Parameters
    ----------
    class_weights : array of shape (n_components,)
        Column ``j`` of the concept weights P·W for the class ``j`` being shown.

    Returns
    -------
    int64 array of shape (k,); equal weights keep the lower concept index first.
    """
    weights = _vector(class_weights, name="class_weights")
    _check_count(k, name="k")
    if k > weights.size:
        raise ValueError(
            f"k={k} candidates requested but the explainer has {weights.size} concepts; "
            f"fit with at least {k} components."
        )
    return np.argsort(-weights, kind="stable")[:k].astype(np.int64)


def target_pool(
    scores: np.ndarray | torch.Tensor,
    top_fraction: float = TOP_FRACTION,
    *,
    class_name: str = "",
    blank: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the top ``top_fraction`` of images by score (highest first).

    The pool has ``floor(n * top_fraction)`` images, so a class needs at least
    ``ceil(1 / top_fraction)`` test images (10 for the 10% rule); images whose
    map is ``blank`` are then left out, so the pool may be smaller, even empty.

    Parameters
    ----------
    scores : array of shape (n,)
        The target concept's score on each of the class's test images.
    blank : bool array of shape (n,), optional
        True where the concept's map on the image highlights nothing.
    """
    values = _vector(scores, name="scores")
    if not 0.0 < float(top_fraction) <= 1.0:
        raise ValueError(f"top_fraction={top_fraction!r}; pass a fraction in (0, 1], e.g. 0.1.")
    pool_size = math.floor(values.size * top_fraction + 1e-9)
    if pool_size < 1:
        needed = math.ceil(1.0 / top_fraction - 1e-9)
        label = f"class {class_name!r}" if class_name else "the class"
        raise ValueError(
            f"{label} has {values.size} test images; drawing the target from the top "
            f"{top_fraction:.0%} needs at least {needed}. Add test images to the class or leave it out."
        )
    pool = np.argsort(-values, kind="stable")[:pool_size].astype(np.int64)
    if blank is None:
        return pool
    mask = np.asarray(blank, dtype=bool)
    if mask.shape != values.shape:
        raise ValueError(f"blank has shape {mask.shape}; expected {values.shape}, one per image.")
    return pool[~mask[pool]]


def percentile_rank(scores: np.ndarray | torch.Tensor, index: int) -> float:
    """Rank of image ``index`` among ``scores`` (n,) in [0, 1]: the share of the other
    images with a strictly lower score (1.0 = the highest score; 1.0 when n == 1)."""
    values = _vector(scores, name="scores")
    if values.size == 1:
        return 1.0
    return float(np.count_nonzero(values < values[index]) / (values.size - 1))


def choose_prototypes(
    train_scores: np.ndarray | torch.Tensor, concepts: Sequence[int], k: int = N_PROTOTYPES
) -> np.ndarray:
    """Prototypes of each concept in ``concepts``: the ``k`` training images with the highest score.

    Parameters
    ----------
    train_scores : array of shape (n_train, n_components)

    Returns
    -------
    int64 array of shape (len(concepts), k) of indices into the training images.
    """
    scores = _matrix(train_scores, name="train_scores")
    if scores.shape[0] < k:
        raise ValueError(
            f"the class has {scores.shape[0]} training images; {k} prototypes per concept need at least {k}."
        )
    return top_prototypes(scores, k=k)[np.asarray(list(concepts), dtype=np.int64)]


def plan_trial(
    *,
    position: int,
    phase: str,
    class_name: str,
    class_weights: np.ndarray | torch.Tensor,
    test_scores: np.ndarray | torch.Tensor,
    train_scores: np.ndarray | torch.Tensor,
    seed: int,
    reducer: str | None = None,
    draw_rule: str = CURRENT_DRAW_RULE,
    test_blank: np.ndarray | None = None,
    train_blank: np.ndarray | None = None,
    n_candidates: int = N_CANDIDATES,
    n_prototypes: int = N_PROTOTYPES,
    top_fraction: float = TOP_FRACTION,
) -> TrialPlan:
    """Draw one trial: candidates, target concept, target image and prototypes.

    Parameters
    ----------
    class_weights : (n_components,) the concepts' weights for this class.
    test_scores : (n_test, n_components) concept scores of the class's test images.
    train_scores : (n_train, n_components) concept scores of the class's training images.
    seed : the stimulus set's seed.
    reducer : the reducer's name; draw rule v2 keys the trial's stream by
        ``(seed, reducer, position)`` (:func:`target_stream`). Required for v2.
    draw_rule : ``"v2"`` (current) or ``"v1"`` (stream ``(seed, position)``, no blank
        exclusion; only to rebuild sets built under it). See the module docstring.
    test_blank, train_blank : bool (n_test, n_components), (n_train, n_components)
        Where the concept's map highlights nothing (``blank_maps``); v2 never uses
        those images as targets or prototypes. None: no map is blank.
    """
    weights = _vector(class_weights, name="class_weights")
    test = _matrix(test_scores, name="test_scores")
    train = _matrix(train_scores, name="train_scores")
    if test.shape[1] != weights.size or train.shape[1] != weights.size:
        raise ValueError(
            f"class {class_name!r}: class_weights has {weights.size} concepts but test_scores has "
            f"{test.shape[1]} and train_scores {train.shape[1]}; pass arrays from the same explainer."
        )
    candidates = choose_candidates(weights, n_candidates)
    if draw_rule == DRAW_RULE_V1:
        rng = random_stream(seed, _TRIAL_STREAM, position)
        target = int(candidates[rng.integers(len(candidates))])
        pool = target_pool(test[:, target], top_fraction, class_name=class_name)
        image = int(pool[rng.integers(len(pool))])
        prototypes = list(choose_prototypes(train, candidates, n_prototypes))
    elif draw_rule == DRAW_RULE_V2:
        target, image, prototypes = _draw_v2(
            target_stream(seed, reducer=reducer, position=position),
            class_name=class_name,
            candidates=candidates,
            test=test,
            train=train,
            test_blank=_blank(test_blank, test.shape, name="test_blank"),
            train_blank=_blank(train_blank, train.shape, name="train_blank"),
            n_prototypes=n_prototypes,
            top_fraction=top_fraction,
        )
    else:
        raise ValueError(f"draw_rule={draw_rule!r}; choose one of {', '.join(DRAW_RULES)}.")
    return TrialPlan(
        position=position,
        phase=phase,
        class_name=class_name,
        target_concept=target,
        target_image=image,
        target_percentile=percentile_rank(test[:, target], image),
        candidates=tuple(
            CandidatePlan(int(c), float(weights[c]), tuple(int(i) for i in rows))
            for c, rows in zip(candidates, prototypes, strict=True)
        ),
        concept_weights=tuple(float(w) for w in weights),
    )


def _draw_v2(
    rng: np.random.Generator,
    *,
    class_name: str,
    candidates: np.ndarray,
    test: np.ndarray,
    train: np.ndarray,
    test_blank: np.ndarray,
    train_blank: np.ndarray,
    n_prototypes: int,
    top_fraction: float,
) -> tuple[int, int, list[np.ndarray]]:
    """Target concept, target image and prototype rows under draw rule v2 (blank maps excluded)."""
    if train.shape[0] < n_prototypes:
        raise ValueError(
            f"the class has {train.shape[0]} training images; {n_prototypes} prototypes per concept "
            f"need at least {n_prototypes}."
        )
    rows = visible_prototypes(train, train_blank, n_prototypes)
    unseen = [int(c) for c in candidates if rows[c].size == 0]
    if unseen:
        raise ValueError(
            f"class {class_name!r}: candidate concepts {unseen} are visible on none of the class's "
            "training images (every map is blank), so they have no prototypes to show; refit the "
            "explainer with another seed or fewer components."
        )
    pools = {
        int(c): target_pool(test[:, c], top_fraction, class_name=class_name, blank=test_blank[:, c])
        for c in candidates
    }
    eligible = [c for c in pools if pools[c].size]
    if not eligible:
        raise ValueError(
            f"class {class_name!r}: no candidate concept is visible on any of its top "
            f"{top_fraction:.0%} test images, so no target can be shown; add test images to the "
            "class or leave it out."
        )
    target = eligible[rng.integers(len(eligible))]
    image = int(pools[target][rng.integers(len(pools[target]))])
    return target, image, [rows[c] for c in candidates]


def _blank(blank: np.ndarray | None, shape: tuple[int, ...], *, name: str) -> np.ndarray:
    if blank is None:
        return np.zeros(shape, dtype=bool)
    mask = np.asarray(blank)
    if mask.shape != shape or mask.dtype != np.bool_:
        raise ValueError(
            f"{name} has shape {mask.shape} and dtype {mask.dtype}; expected bool {shape} (blank_maps)."
        )
    return mask


@dataclass(frozen=True)
class ClassEvidence:
    """What one class contributes to a stimulus set, from its explainer."""

    class_weights: np.ndarray  # (n_components,)
    test_scores: np.ndarray  # (n_test, n_components)
    train_scores: np.ndarray  # (n_train, n_components)
    test_blank: np.ndarray | None = None  # bool (n_test, n_components): map highlights nothing
    train_blank: np.ndarray | None = None  # bool (n_train, n_components)


def plan_trials(
    classes: Sequence[str],
    evidence: Mapping[str, ClassEvidence],
    *,
    seed: int,
    reducer: str | None = None,
    draw_rule: str = CURRENT_DRAW_RULE,
    n_training: int = N_TRAINING,
    **options: float,
) -> list[TrialPlan]:
    """Plan every trial of a set: one per class of ``classes`` (from :func:`draw_classes`), in order.

    ``reducer`` and ``draw_rule`` are as in :func:`plan_trial`; ``options`` are passed on
    to it (n_candidates, n_prototypes, top_fraction).
    """
    missing = [name for name in classes if name not in evidence]
    if missing:
        raise ValueError(f"no explainer evidence for classes {missing}; fit those classes first.")
    return [
        plan_trial(
            position=position,
            phase=phase,
            class_name=name,
            seed=seed,
            reducer=reducer,
            draw_rule=draw_rule,
            class_weights=evidence[name].class_weights,
            test_scores=evidence[name].test_scores,
            train_scores=evidence[name].train_scores,
            test_blank=evidence[name].test_blank,
            train_blank=evidence[name].train_blank,
            **options,
        )
        for position, (name, phase) in enumerate(
            zip(classes, trial_phases(len(classes), n_training), strict=True)
        )
    ]


def _check_count(value: int, *, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name}={value!r}; pass a positive integer.")


def _numpy(values: np.ndarray | torch.Tensor, *, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values; check the explainer's outputs.")
    return array


def _vector(values: np.ndarray | torch.Tensor, *, name: str) -> np.ndarray:
    array = _numpy(values, name=name)
    if array.ndim != 1:
        raise ValueError(f"{name} has shape {array.shape}; expected a vector (n,).")
    return array


def _matrix(values: np.ndarray | torch.Tensor, *, name: str) -> np.ndarray:
    array = _numpy(values, name=name)
    if array.ndim != 2:
        raise ValueError(f"{name} has shape {array.shape}; expected (n_images, n_components).")
    return array
