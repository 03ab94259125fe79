"""Concept prototypes: the images that show a concept most strongly.

Following the paper (section "Concept prototypes", after Kim, Khanna and Koyejo
2016), the prototypes of concept k are the images of the class with the highest
concept score s_k (the GAP of the concept's score map); they are shown with the
concept highlighted (see :mod:`explainers.ice.heatmaps`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .heatmaps import concept_heatmaps

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
        ``concept -> (images, heatmaps)``: the ``k`` prototype images (best first)
        and their heatmaps of shape (k, h, w) in [0, 1], ready for
        :func:`explainers.ice.figures.render_prototype_row`.
    """
    maps = concept_maps if isinstance(concept_maps, torch.Tensor) else np.asarray(concept_maps)
    if maps.ndim != 4 or maps.shape[0] != len(images):
        raise ValueError(
            f"concept_maps has shape {tuple(maps.shape)}; expected (n, h, w, n_components) "
            f"with n={len(images)} (one map per image)."
        )
    indices = top_prototypes(concept_scores, k=k)
    if indices.shape[0] != maps.shape[-1]:
        raise ValueError(
            f"concept_scores has {indices.shape[0]} components but concept_maps has {maps.shape[-1]}; "
            "pass scores and maps from the same explainer."
        )
    gallery = {}
    for concept, rows in enumerate(indices):
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
