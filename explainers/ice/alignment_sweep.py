"""Concept–part alignment and concept stability swept over reducers and c'.

A computational counterpart to the human study: on a dataset whose object parts
have pixel masks (the built-in synthetic set), how well does each reducer's
concepts line up with the parts, and how stable are they across seeds and
image subsamples? See docs/alignment.md for the definitions and results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .alignment import align_concepts, alignment_summary, concept_stability
from .explainer import reducer_concept_maps
from .features import float_tensor_view
from .progress import Progress, report_count
from .reducers import make_reducer


def fit_class_reducer(
    name: str,
    n_components: int,
    activations: np.ndarray | torch.Tensor,
    *,
    random_state: int | None = 0,
    device: str = "auto",
) -> object:
    """Fit one reducer on one class's activations (n, h, w, c), flattened to (n·h·w, c)."""
    # numpy in, numpy out: a read-only memory map from the feature bank needs no copy here.
    flat = np.asarray(activations, dtype=np.float32).reshape(-1, activations.shape[-1])
    return make_reducer(name, n_components, random_state=random_state, device=device).fit(flat)


def concept_maps_of(reducer: object, activations: np.ndarray | torch.Tensor) -> np.ndarray:
    """Concept score maps S of shape (n, h, w, c') for activations (n, h, w, c), as numpy."""
    tensor = (
        activations if isinstance(activations, torch.Tensor) else float_tensor_view(activations)
    )
    return reducer_concept_maps(reducer, tensor).cpu().numpy()


def alignment_sweep(
    train_features: Mapping[int, np.ndarray],
    test_features: Mapping[int, np.ndarray],
    test_part_masks: Mapping[int, Mapping[str, np.ndarray]],
    image_size: tuple[int, int],
    *,
    reducers: Sequence[str] = ("nmf", "pca", "kmeans"),
    n_components: Iterable[int] = range(5, 55, 5),
    random_state: int | None = 0,
    device: str = "auto",
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align every concept of every class's explainer with the class's part masks.

    Parameters
    ----------
    train_features : {class index: activations (n, h, w, c)} the reducers are fitted on.
    test_features : {class index: activations (n, h, w, c)} of held-out images.
    test_part_masks : {class index: {part name: bool (n, H, W)}} for the same held-out images.
    image_size : (H, W) of the images the masks belong to.

    Returns
    -------
    concepts : one row per (reducer, c', class, concept): best_part, best_iou, purity.
    summary : one row per (reducer, c'): mean_best_iou, mean_purity, mean parts covered per class.
    """
    classes = sorted(test_part_masks)
    n_components = list(n_components)
    missing = [g for g in classes if g not in train_features or g not in test_features]
    if missing:
        raise ValueError(
            f"classes {missing} have part masks but no train/test activations; extract them first."
        )
    total, done, rows = len(reducers) * len(n_components) * len(classes), 0, []
    for name in reducers:
        for k in n_components:
            for g in classes:
                reducer = fit_class_reducer(
                    name, k, train_features[g], random_state=random_state, device=device
                )
                table = align_concepts(
                    concept_maps_of(reducer, test_features[g]),
                    test_part_masks[g],
                    image_size,
                    shift_negative=(name == "pca"),
                )
                rows.append(table.assign(reducer=name, n_components=k, class_index=g))
                done += 1
                report_count(progress, done, total, "alignment fits")
    concepts = pd.concat(rows, ignore_index=True)
    return concepts, summarise_alignment(concepts)


def summarise_alignment(concepts: pd.DataFrame) -> pd.DataFrame:
    """Mean alignment per (reducer, c'), averaging over classes then concepts."""
    per_class = [
        {"reducer": reducer, "n_components": k, "class_index": g, **alignment_summary(group)}
        for (reducer, k, g), group in concepts.groupby(
            ["reducer", "n_components", "class_index"], sort=False
        )
    ]
    table = pd.DataFrame(per_class)
    return (
        table.groupby(["reducer", "n_components"], sort=False)
        .agg(
            mean_best_iou=("mean_best_iou", "mean"),
            mean_purity=("mean_purity", "mean"),
            parts_covered=("parts_covered", "mean"),
        )
        .reset_index()
    )


def stability_sweep(
    train_features: Mapping[int, np.ndarray],
    *,
    reducers: Sequence[str] = ("nmf", "pca", "kmeans"),
    n_components: int = 10,
    seeds: tuple[int, int] = (0, 1),
    subsample: float = 0.8,
    device: str = "auto",
) -> pd.DataFrame:
    """Mean Hungarian-matched cosine between two fits per class, for each reducer.

    The two fits differ in ``random_state`` (``seeds``) and each sees its own random
    ``subsample`` share of the class's images, drawn with that seed. PCA's axes have
    no sign, so they are compared by |cosine|.
    """
    if not 0 < subsample <= 1:
        raise ValueError(
            f"subsample={subsample} must be in (0, 1]; it is the share of images each fit sees."
        )
    rows = []
    for name in reducers:
        for g, activations in sorted(train_features.items()):
            fits = []
            for seed in seeds:
                rng = np.random.default_rng(seed)
                n = len(activations)
                chosen = np.sort(rng.choice(n, size=max(1, round(subsample * n)), replace=False))
                reducer = fit_class_reducer(
                    name,
                    n_components,
                    np.asarray(activations)[chosen],
                    random_state=seed,
                    device=device,
                )
                fits.append(reducer.components_)
            cosine, _ = concept_stability(fits[0], fits[1], absolute=(name == "pca"))
            rows.append({"reducer": name, "class_index": g, "matched_cosine": cosine})
    table = pd.DataFrame(rows)
    return table.groupby("reducer", sort=False)["matched_cosine"].agg(["mean", "std"]).reset_index()
