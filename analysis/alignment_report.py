"""Concept–part alignment report on a synthetic scenario: tables, a plot and a summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from explainers.ice.alignment import stack_part_masks
from explainers.ice.alignment_sweep import alignment_sweep, stability_sweep
from explainers.ice.progress import Progress
from explainers.ice.synthetic import SyntheticDataset


def _features(scenario, bank, split: str, classes: Sequence[str]):
    from explainers.services.scenarios import scenario_class_features

    return {
        g: scenario_class_features(scenario=scenario, bank=bank, split=split, class_name=name)
        for g, name in enumerate(classes)
    }


def alignment_report(
    scenario,
    out: Path,
    *,
    n_components: Sequence[int] = tuple(range(5, 55, 5)),
    n_classes: int | None = None,
    reducers: Sequence[str] = ("nmf", "pca", "kmeans"),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write alignment.csv, alignment_concepts.csv, stability.csv and alignment.png into ``out``.

    ``scenario`` must be on a synthetic dataset (the only kind with part masks).
    ``reducers`` picks a subset, e.g. to re-run only the one whose solver changed.
    """
    from explainers.services.scenarios import scenario_feature_bank

    if scenario.dataset.kind != "synthetic":
        raise ValueError(
            f"scenario {scenario.name!r} is not on a synthetic dataset; only those have part masks."
        )
    data = SyntheticDataset(scenario.dataset.path)
    classes = data.classes[:n_classes] if n_classes else data.classes
    bank = scenario_feature_bank(scenario=scenario)
    train = _features(scenario, bank, "train", classes)
    test = _features(scenario, bank, "test", classes)
    size = (data.size, data.size)
    masks = {
        g: stack_part_masks([data.part_masks(p) for p in e.paths], size) for g, e in test.items()
    }
    concepts, summary = alignment_sweep(
        {g: np.asarray(e.features) for g, e in train.items()},
        {g: np.asarray(e.features) for g, e in test.items()},
        masks,
        size,
        reducers=reducers,
        n_components=n_components,
        progress=progress,
    )
    concepts["class"] = [classes[g] for g in concepts["class_index"]]
    stability = stability_sweep(
        {g: np.asarray(e.features) for g, e in train.items()}, reducers=reducers, n_components=10
    )
    out.mkdir(parents=True, exist_ok=True)
    concepts.to_csv(out / "alignment_concepts.csv", index=False)
    summary.to_csv(out / "alignment.csv", index=False)
    stability.to_csv(out / "stability.csv", index=False)
    alignment_figure(summary).savefig(out / "alignment.png", dpi=120)
    return {
        "out": str(out),
        "classes": len(classes),
        "layer": scenario.layer,
        "alignment": _json_records(summary),
        "stability_c10": _json_records(stability),  # std is null for a single class
    }


def _json_records(table) -> list[dict[str, Any]]:
    """Rows rounded to 4 places, with NaN as None (JSON has no NaN)."""
    rounded = table.round(4).astype(object)
    return rounded.where(rounded.notna(), None).to_dict(orient="records")


REDUCER_LABELS = {"nmf": "NMF", "pca": "PCA", "kmeans": "k-means"}


def alignment_figure(summary) -> Figure:
    """Mean best IoU and mean purity against c', one line per reducer."""
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    for axis, column, label in zip(
        figure.subplots(1, 2),
        ("mean_best_iou", "mean_purity"),
        ("mean best IoU with a part", "mean purity"),
        strict=True,
    ):
        for reducer, rows in summary.groupby("reducer", sort=False):
            axis.plot(
                rows["n_components"],
                rows[column],
                marker="o",
                label=REDUCER_LABELS.get(reducer, reducer),
            )
        axis.set_xlabel("c' (concepts per class)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.axes[0].legend()
    return figure
