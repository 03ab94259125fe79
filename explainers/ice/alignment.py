"""Do concepts find object parts, and are they the same concepts on a re-fit?

Two checks that go beyond the paper, made possible by the built-in synthetic
dataset, whose images come with a pixel mask per object part:

- **Concept-part alignment.** Each concept's thresholded heatmaps (the regions
  a participant sees highlighted) are compared with every part's ground-truth
  masks over a class's test images, by intersection over union (IoU).
- **Concept stability.** Two fits of a reducer (other seeds or other halves of
  the data) are compared by matching their concept directions one-to-one
  (Hungarian algorithm on cosine similarity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment

from .heatmaps import DEFAULT_THRESHOLD, concept_heatmaps, concept_mask


def concept_part_iou(
    heatmaps: np.ndarray | torch.Tensor,
    part_masks: Mapping[str, np.ndarray],
    threshold: float = DEFAULT_THRESHOLD,
) -> dict[str, float]:
    """Pooled IoU between one concept's highlighted regions and each part.

    IoU is pooled over images: ``sum_i |M_i & G_i| / sum_i |M_i | G_i|``, where
    ``M_i`` is the heatmap of image i above ``threshold`` and ``G_i`` the part's
    mask. Pooling weights images by their area instead of averaging per-image
    ratios, which would let tiny regions dominate. Images where neither region
    is present (0/0) add nothing to either sum, i.e. they are skipped; when
    that holds for every image the IoU is undefined and reported as NaN.

    Parameters
    ----------
    heatmaps : array of shape (n, H, W)
        Normalised heatmaps in [0, 1] of the concept on n images.
    part_masks : mapping part name -> bool array of shape (n, H, W)
        Ground-truth pixel masks of each part on the same images.
    threshold : float, default 0.5
        Heatmap values strictly above it are the concept.

    Returns
    -------
    dict
        part name -> IoU in [0, 1] (or NaN), in ``part_masks`` order.
    """
    concept = concept_mask(heatmaps, threshold)
    masks = _check_part_masks(part_masks, concept.shape)
    return {part: _ratio(concept & mask, concept | mask) for part, mask in masks.items()}


def align_concepts(
    concept_maps: np.ndarray | torch.Tensor,
    part_masks: Mapping[str, np.ndarray],
    image_size: tuple[int, int],
    *,
    shift_negative: bool,
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Match every concept to the object part it highlights best.

    Parameters
    ----------
    concept_maps : array of shape (n, h, w, n_components)
        Concept score maps of n images of one class.
    part_masks : mapping part name -> bool array of shape (n, H, W)
        Ground-truth part masks of the same images, with (H, W) = ``image_size``.
    image_size : (H, W)
        Size the heatmaps are upsampled to before thresholding.
    shift_negative : bool
        True for PCA scores (see :func:`explainers.ice.heatmaps.concept_heatmap`).
    threshold : float, default 0.5

    Returns
    -------
    pandas.DataFrame
        One row per concept with columns ``concept``, ``best_part`` (highest IoU;
        ties go to the earlier part; None when no IoU is defined), ``best_iou``,
        ``purity`` and ``iou_<part>`` for every part. Purity is the precision of
        the concept with respect to its best part: the share of all highlighted
        pixels (pooled over images) that lie inside that part's mask. It tells
        whether a concept with a modest IoU is a clean sub-region of the part
        (purity near 1) or spills over the rest of the image. NaN when the
        concept highlights no pixel.
    """
    maps = concept_maps if isinstance(concept_maps, torch.Tensor) else np.asarray(concept_maps)
    if maps.ndim != 4:
        raise ValueError(
            f"concept_maps has shape {tuple(maps.shape)}; expected (n, h, w, n_components)."
        )
    if not isinstance(image_size, tuple | list) or len(image_size) != 2:
        raise ValueError(f"image_size={image_size!r}; pass (H, W), the size of the part masks.")
    masks = _check_part_masks(part_masks, (maps.shape[0], *image_size))
    records = []
    for concept in range(maps.shape[-1]):
        heatmaps = concept_heatmaps(
            maps[..., concept], shift_negative=shift_negative, size=tuple(image_size)
        )
        records.append(_concept_record(concept, concept_mask(heatmaps, threshold), masks))
    return pd.DataFrame.from_records(records)


def alignment_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Summary of :func:`align_concepts`: mean best IoU, mean purity, parts covered.

    Means skip undefined (NaN) values. ``parts_covered`` counts distinct best
    parts, i.e. how many parts at least one concept picks out best.
    """
    missing = {"best_part", "best_iou", "purity"} - set(table.columns)
    if missing:
        raise ValueError(
            f"table lacks columns {sorted(missing)}; pass the output of align_concepts."
        )
    return {
        "n_concepts": int(len(table)),
        "mean_best_iou": float(table["best_iou"].mean()),
        "mean_purity": float(table["purity"].mean()),
        "parts_covered": int(table["best_part"].dropna().nunique()),
    }


def concept_stability(
    components_a: np.ndarray | torch.Tensor,
    components_b: np.ndarray | torch.Tensor,
    *,
    absolute: bool = False,
) -> tuple[float, np.ndarray]:
    """How well two sets of concept directions match one-to-one.

    Concepts of the two fits are paired by the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``) so that the summed cosine
    similarity of the pairs is largest; the mean cosine of the pairs is the
    stability (1 = the same directions, in any order).

    Parameters
    ----------
    components_a, components_b : arrays of shape (c'_a, c) and (c'_b, c)
        Concept directions P of the two fits (rows), over the same c channels.
        With different counts, min(c'_a, c'_b) pairs are formed.
    absolute : bool, default False
        Use |cosine|. Set it for PCA, whose components have an arbitrary sign
        (v and -v are the same concept); NMF and k-means directions are
        non-negative, so their sign carries meaning.

    Returns
    -------
    mean_cosine : float
        Mean (absolute) cosine similarity over the matched pairs.
    pairs : int64 array of shape (min(c'_a, c'_b), 2)
        ``(row in a, row in b)`` for each pair, sorted by the row in a.
    """
    a = _unit_rows(components_a, name="components_a")
    b = _unit_rows(components_b, name="components_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"components_a has {a.shape[1]} channels but components_b has {b.shape[1]}; "
            "compare fits on the same layer."
        )
    cosine = a @ b.T
    if absolute:
        cosine = np.abs(cosine)
    rows, columns = linear_sum_assignment(cosine, maximize=True)
    pairs = np.stack([rows, columns], axis=1).astype(np.int64)
    return float(cosine[rows, columns].mean()), pairs


def stack_part_masks(
    per_image: Sequence[Mapping[str, np.ndarray]], image_size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Per-image part masks -> one (n, H, W) bool stack per part.

    ``per_image[i]`` maps part name -> bool (H, W) for the parts drawn on image i
    (e.g. ``RenderedImage.part_masks()`` of the synthetic dataset). A part that is
    not drawn on an image gets an all-False mask there, so it counts against
    concepts that highlight something on that image. Parts keep the order in
    which they are first seen.
    """
    names = list(dict.fromkeys(name for masks in per_image for name in masks))
    stacked = {name: np.zeros((len(per_image), *image_size), dtype=bool) for name in names}
    for index, masks in enumerate(per_image):
        for name, mask in masks.items():
            array = np.asarray(mask)
            if array.shape != tuple(image_size):
                raise ValueError(
                    f"mask of part {name!r} on image {index} has shape {array.shape}; "
                    f"expected {tuple(image_size)}."
                )
            stacked[name][index] = array.astype(bool)
    return stacked


def _concept_record(
    concept: int, highlighted: np.ndarray, masks: dict[str, np.ndarray]
) -> dict[str, Any]:
    ious = {part: _ratio(highlighted & mask, highlighted | mask) for part, mask in masks.items()}
    defined = [part for part, iou in ious.items() if not np.isnan(iou)]
    # max() keeps the first of equal values, so ties go to the earlier part.
    best = max(defined, key=lambda part: ious[part]) if defined else None
    purity = _ratio(highlighted & masks[best], highlighted) if best is not None else float("nan")
    record: dict[str, Any] = {
        "concept": concept,
        "best_part": best,
        "best_iou": ious[best] if best is not None else float("nan"),
        "purity": purity,
    }
    record.update({f"iou_{part}": iou for part, iou in ious.items()})
    return record


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    total = int(np.count_nonzero(denominator))
    return int(np.count_nonzero(numerator)) / total if total else float("nan")


def _check_part_masks(
    part_masks: Mapping[str, np.ndarray], shape: tuple[int, ...]
) -> dict[str, np.ndarray]:
    if not isinstance(part_masks, Mapping) or not part_masks:
        raise ValueError(
            "part_masks must be a non-empty mapping part name -> bool array (n, H, W)."
        )
    masks = {}
    for part, mask in part_masks.items():
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.shape != tuple(shape):
            raise ValueError(
                f"part mask {part!r} has shape {array.shape}; expected {tuple(shape)} "
                "(one mask per image, at the heatmaps' size)."
            )
        if array.dtype != bool:
            raise TypeError(
                f"part mask {part!r} has dtype {array.dtype}; pass a bool array (e.g. mask > 0)."
            )
        masks[str(part)] = array
    return masks


def _unit_rows(components: np.ndarray | torch.Tensor, *, name: str) -> np.ndarray:
    if isinstance(components, torch.Tensor):
        components = components.detach().to("cpu", torch.float64).numpy()
    array = np.asarray(components, dtype=np.float64)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} has shape {array.shape}; expected (n_components, n_channels).")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{name} has an all-zero component; its cosine similarity is undefined.")
    return array / norms
