"""Concept prototypes: the images that show a concept most strongly.

Following the paper (section "Concept prototypes", after Kim, Khanna and Koyejo
2016), the prototypes of concept k are the images of the class with the highest
concept score s_k (the GAP of the concept's score map); they are shown with the
concept highlighted (see :mod:`explainers.ice.heatmaps`). An image on which the
concept's map is blank (its heatmap highlights nothing) is never a prototype of
that concept, however high its score: :func:`visible_prototypes` applies the rule
and is what the app and the stimuli use; :func:`top_prototypes` is the plain ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .heatmaps import blank_maps, concept_heatmaps

DEFAULT_N_PROTOTYPES = 5


def top_prototypes(
    concept_scores: np.ndarray | torch.Tensor, k: int = DEFAULT_N_PROTOTYPES
) -> np.ndarray:
    """Indices of the ``k`` images with the highest score, per concept.

    Parameters
    ----------
    concept_scores : array of shape (n, n_components)
        Concept scores of ``n`` images (numpy or torch, any device).
    k : int, default 5
        Prototypes per concept; ``1 <= k <= n``. Asking for more prototypes than
        there are images is an error rather than a silent clamp, because a
        stimulus row with fewer than ``k`` images would change what participants
        see; pass ``k=min(k, n)`` to accept fewer.

    Returns
    -------
    indices : int64 array of shape (n_components, k)
        Row ``j`` lists image indices by descending score of concept ``j``; equal
        scores keep the lower image index first, so the result is deterministic.
    """
    scores = _as_score_matrix(concept_scores)
    n_images = scores.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n_images:
        raise ValueError(
            f"k={k!r} prototypes requested from {n_images} images; "
            f"pass an integer k between 1 and {n_images} (e.g. k=min(k, n))."
        )
    # A stable sort of the negated scores keeps ties in index order.
    order = np.argsort(-scores, axis=0, kind="stable")
    return np.ascontiguousarray(order[:k].T).astype(np.int64)


def visible_prototypes(
    concept_scores: np.ndarray | torch.Tensor,
    blank: np.ndarray,
    k: int = DEFAULT_N_PROTOTYPES,
) -> list[np.ndarray]:
    """Per concept, the (up to) ``k`` highest-scoring images on which the concept is visible.

    Parameters
    ----------
    concept_scores : array of shape (n, n_components)
    blank : bool array of shape (n, n_components)
        True where the concept's map on the image highlights nothing
        (:func:`explainers.ice.heatmaps.blank_maps`); those images are skipped.
    k : int, default 5
        Prototypes per concept, ``k >= 1``.

    Returns
    -------
    list of n_components int64 arrays
        Image indices by descending score (ties: lower index first). A concept
        visible on fewer than ``k`` images gets fewer, possibly none: a blank
        image shown as an example would teach participants nothing.
    """
    scores = _as_score_matrix(concept_scores)
    mask = np.asarray(blank)
    if mask.shape != scores.shape or mask.dtype != np.bool_:
        raise ValueError(
            f"blank has shape {mask.shape} and dtype {mask.dtype}; expected a bool array of the "
            f"scores' shape {scores.shape} (from blank_maps)."
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k={k!r}; pass a positive number of prototypes.")
    order = np.argsort(-scores, axis=0, kind="stable")
    return [
        order[~mask[order[:, concept], concept], concept][:k].astype(np.int64)
        for concept in range(scores.shape[1])
    ]


def prototype_gallery(
    images: Sequence[Any] | np.ndarray | torch.Tensor,
    concept_maps: np.ndarray | torch.Tensor,
    concept_scores: np.ndarray | torch.Tensor,
    *,
    shift_negative: bool,
    k: int = DEFAULT_N_PROTOTYPES,
) -> dict[int, tuple[list[Any], np.ndarray]]:
    """Prototype images of every concept together with the concept's heatmaps on them.

    Parameters
    ----------
    images : sequence of n images, or array of shape (n, 3, H, W) / (n, H, W, 3)
        Displayable images (values in [0, 1] or uint8, not model-normalised), in
        the same order as ``concept_maps``.
    concept_maps : array of shape (n, h, w, n_components)
        Concept score maps S of the same images.
    concept_scores : array of shape (n, n_components)
        Concept scores (GAP of ``concept_maps``).
    shift_negative : bool
        True for reducers whose scores can be negative (PCA); see
        :func:`explainers.ice.heatmaps.concept_heatmap`.
    k : int, default 5
        Prototypes per concept.

    Returns
    -------
    gallery : dict
        ``concept -> (images, heatmaps)``: the prototype images (best first) and
        their heatmaps of shape (m, h, w) in [0, 1], ready for
        :func:`explainers.ice.figures.render_prototype_row`. ``m`` is ``k``, or
        fewer when the concept is visible on fewer images (:func:`visible_prototypes`);
        a concept visible on none has no entry (the figures skip missing concepts).
    """
    maps = concept_maps if isinstance(concept_maps, torch.Tensor) else np.asarray(concept_maps)
    if maps.ndim != 4 or maps.shape[0] != len(images):
        raise ValueError(
            f"concept_maps has shape {tuple(maps.shape)}; expected (n, h, w, n_components) "
            f"with n={len(images)} (one map per image)."
        )
    scores = _as_score_matrix(concept_scores)
    top_prototypes(scores, k=k)  # validates k against the number of images
    if scores.shape != (maps.shape[0], maps.shape[-1]):
        raise ValueError(
            f"concept_scores has shape {scores.shape} but concept_maps has {maps.shape[-1]} components "
            f"for {maps.shape[0]} images; pass scores and maps from the same explainer."
        )
    indices = visible_prototypes(scores, blank_maps(maps, shift_negative=shift_negative), k=k)
    gallery = {}
    for concept, rows in enumerate(indices):
        if rows.size:  # a concept visible on no image has nothing to show: it is left out
            heatmaps = concept_heatmaps(
                maps[rows.tolist(), :, :, concept], shift_negative=shift_negative
            )
            gallery[concept] = ([images[int(i)] for i in rows], heatmaps)
    return gallery


def _as_score_matrix(concept_scores: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(concept_scores, torch.Tensor):
        concept_scores = concept_scores.detach().to("cpu", torch.float64).numpy()
    scores = np.asarray(concept_scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(
            f"concept_scores has shape {scores.shape}; expected (n, n_components) with n >= 1."
        )
    if not np.isfinite(scores).all():
        raise ValueError(
            "concept_scores contains NaN or infinite values; check the reducer's transform."
        )
    return scores
