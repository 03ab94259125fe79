"""Fidelity sweeps of a scenario: accuracy, Fid_c and Fid_r against c' per reducer (the paper's Figure 3)."""

from __future__ import annotations

import io
import time

import torch
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from explainers.ice.features import float_tensor_view
from explainers.ice.progress import Progress, report, scaled

from ..models import FidelitySweep, Scenario
from .explainer_runs import check_classes, check_reducer
from .scenarios import scenario_class_features, scenario_class_indices, scenario_feature_bank

DEFAULT_N_COMPONENTS = tuple(range(5, 55, 5))


def fidelity_sweep_run(
    *,
    scenario: Scenario,
    reducers: tuple[str, ...] = ("nmf", "pca", "kmeans"),
    n_components: tuple[int, ...] = DEFAULT_N_COMPONENTS,
    classes: list[str] | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: Progress | None = None,
) -> FidelitySweep:
    """Run the sweep on held-out (test) images of ``classes`` (default: all) and store table and plot."""
    from explainers.ice.fidelity import fidelity_sweep

    reducers = tuple(check_reducer(r) for r in reducers)
    n_components = tuple(sorted({int(k) for k in n_components}))
    if not n_components or n_components[0] < 1:
        raise ValidationError(
            f"n_components={n_components!r}; give positive numbers of concepts, e.g. 5, 10, …, 50."
        )
    classes = check_classes(scenario=scenario, classes=classes)
    started = time.perf_counter()
    bank = scenario_feature_bank(scenario=scenario, device=device)
    indices = scenario_class_indices(scenario=scenario)
    train, test = {}, {}
    for position, name in enumerate(classes):
        report(progress, 0.3 * position / len(classes), f"activations of {name!r}")
        train[indices[name]] = _tensor(
            scenario_class_features(scenario=scenario, bank=bank, split="train", class_name=name)
        )
        test[indices[name]] = _tensor(
            scenario_class_features(scenario=scenario, bank=bank, split="test", class_name=name)
        )
    sweep_progress = scaled(progress, 0.3, 0.95)
    try:
        sweep = fidelity_sweep(
            bank.extractor.head,
            train,
            test,
            reducers=reducers,
            n_components=n_components,
            random_state=seed,
            device=bank.extractor.device,
            progress=sweep_progress,
        )
    except ValueError as error:
        raise ValidationError(f"fidelity sweep of {scenario}: {error}") from error
    report(progress, 0.95, "drawing the plot")
    record = FidelitySweep.objects.create(
        scenario=scenario,
        reducers=list(reducers),
        n_components=list(n_components),
        classes=classes,
        seed=seed,
        table=_records(sweep.table),
        figure=_store_figure(sweep.figure()),
        seconds=time.perf_counter() - started,
    )
    report(progress, 1.0, "fidelity sweep done")
    return record


def _tensor(features) -> torch.Tensor:
    return float_tensor_view(features.features)


def _records(table) -> list[dict]:
    return [
        {key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()}
        for row in table.to_dict(orient="records")
    ]


def _store_figure(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return default_storage.save("fidelity/sweep.png", ContentFile(buffer.getvalue()))
