"""Fitting explainers: one reducer per (scenario, class, reducer, c', seed), with its concepts.

The CNN runs once per class and split (the feature bank caches activations); the
fitted reducer is written under ``ICELAB_HOME/explainers/`` so concept maps can be
recomputed later; each concept keeps its vector, weights and highlighted prototypes.
Fitting is idempotent: a run that already succeeded is returned as it is.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from explainers.ice.feature_bank import ClassFeatures, FeatureBank
from explainers.ice.features import float_tensor_view
from explainers.ice.fidelity import regression_fidelity
from explainers.ice.images import file_sha256
from explainers.ice.progress import Progress, report, scaled
from explainers.ice.reducer_files import reducer_load, reducer_save
from icelab.errors import error_message

from ..models import Concept, ExplainerRun, Reducer, RunStatus, Scenario
from ..selectors import dataset_relpath
from .classifiers import classifier_load
from .scenarios import (
    scenario_class_features,
    scenario_class_indices,
    scenario_feature_bank,
    scenario_geometry,
)
from .stimulus_files import display_image, highlight_map, store_png

logger = logging.getLogger(__name__)

N_PROTOTYPES = 5
# Part alignment is descriptive (shown in the concept browser), so the first test images suffice.
ALIGNMENT_IMAGES = 32
_EPSILON = 1e-8


def explainer_runs_fit(
    *,
    scenario: Scenario,
    reducer: str,
    n_components: int = 10,
    classes: list[str] | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: Progress | None = None,
) -> list[ExplainerRun]:
    """Fit (or reuse) the explainers of ``classes`` (default: every class of the dataset)."""
    reducer = check_reducer(reducer)
    classes = check_classes(scenario=scenario, classes=classes)
    bank: FeatureBank | None = None
    runs = []
    for index, class_name in enumerate(classes):
        inner = scaled(progress, index / len(classes), (index + 1) / len(classes))
        run = _run_get_or_create(
            scenario=scenario,
            class_name=class_name,
            reducer=reducer,
            n_components=n_components,
            seed=seed,
        )
        if not run_is_complete(run):
            bank = bank or scenario_feature_bank(scenario=scenario, device=device)
            run = explainer_run_fit(run=run, bank=bank, device=device, progress=inner)
        report(
            inner, 1.0, f"{reducer} explainer of {class_name!r} ready ({index + 1}/{len(classes)})"
        )
        runs.append(run)
    return runs


def explainer_run_fit(
    *,
    run: ExplainerRun,
    bank: FeatureBank | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> ExplainerRun:
    """Fit one explainer run; a run that already succeeded is returned unchanged.

    On failure the run is marked failed with the error and the error is raised again.
    User-caused problems (a layer that is not post-ReLU for NMF, too many components)
    are raised as ValidationError with the core's message.
    """
    if run_is_complete(run):
        return run
    ExplainerRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, error="")
    try:
        bank = bank or scenario_feature_bank(scenario=run.scenario, device=device)
        _fit(run, bank, device, progress)
    except Exception as error:
        ExplainerRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=error_message(error)
        )
        run.refresh_from_db()
        if isinstance(error, ValueError):
            raise ValidationError(f"explainer {run}: {error}") from error
        raise
    run.refresh_from_db()
    return run


def run_is_complete(run: ExplainerRun) -> bool:
    return (
        run.status == RunStatus.SUCCEEDED
        and bool(run.reducer_file)
        and (Path(settings.ICELAB_HOME) / run.reducer_file).is_file()
    )


def run_concept_maps(
    run: ExplainerRun, activations: np.ndarray, *, device: str = "auto"
) -> np.ndarray:
    """Concept maps S (n, h, w, c') of activations (n, h, w, c) under the run's stored reducer."""
    from explainers.ice.explainer import reducer_concept_maps

    reducer = reducer_load(Path(settings.ICELAB_HOME) / run.reducer_file, device=device)
    return reducer_concept_maps(reducer, float_tensor_view(activations)).cpu().numpy()


def reducer_convergence(reducer: Any) -> tuple[bool, int]:
    """Whether a fitted reducer's solver converged, and in how many iterations.

    Every built-in reducer has ``converged_`` and ``n_iter_``; a reducer object
    without them (a caller's own) counts as converged after 0 iterations, as a
    direct method would.
    """
    return bool(getattr(reducer, "converged_", True)), int(getattr(reducer, "n_iter_", 0))


def check_reducer(reducer: str) -> str:
    name = str(reducer).lower()
    if name not in Reducer.values:
        raise ValidationError(f"reducer={reducer!r} is not one of {', '.join(Reducer.values)}.")
    return name


def check_classes(*, scenario: Scenario, classes: list[str] | None) -> list[str]:
    available = list(scenario.dataset.class_names)
    if classes is None:
        return available
    unknown = [name for name in classes if name not in available]
    if unknown:
        raise ValidationError(
            f"classes {unknown} are not in dataset {scenario.dataset.name!r}; it has {len(available)} classes "
            f"(e.g. {', '.join(available[:5])})."
        )
    return list(dict.fromkeys(classes))


def _run_get_or_create(
    *, scenario: Scenario, class_name: str, reducer: str, n_components: int, seed: int
) -> ExplainerRun:
    key = {
        "scenario": scenario,
        "class_name": class_name,
        "reducer": reducer,
        "n_components": n_components,
        "seed": seed,
    }
    try:
        with transaction.atomic():
            return ExplainerRun.objects.get_or_create(**key)[0]
    except IntegrityError:  # created by a concurrent worker in between
        return ExplainerRun.objects.get(**key)


def _fit(run: ExplainerRun, bank: FeatureBank, device: str, progress: Progress | None) -> None:
    from explainers.ice.explainer import ConceptExplainer

    timings: dict[str, float] = {}
    started = time.perf_counter()
    report(progress, 0.0, f"activations of {run.class_name!r}")
    train = scenario_class_features(
        scenario=run.scenario, bank=bank, split="train", class_name=run.class_name
    )
    test = _optional_features(run, bank, "test")
    timings["features_seconds"] = time.perf_counter() - started

    report(progress, 0.3, f"fitting {run.reducer} on {run.class_name!r}")
    class_index = scenario_class_indices(scenario=run.scenario)[run.class_name]
    model = classifier_load(classifier=run.scenario.classifier, device=bank.extractor.device)
    explainer = ConceptExplainer(
        model,
        run.scenario.layer,
        run.reducer,
        run.n_components,
        random_state=run.seed,
        device=bank.extractor.device,
    )
    tick = time.perf_counter()
    explainer.fit_features(float_tensor_view(train.features), class_index)
    timings["fit_seconds"] = time.perf_counter() - tick

    report(progress, 0.6, f"prototypes of {run.class_name!r}")
    tick = time.perf_counter()
    concepts = _concepts(run, explainer, train, class_index)
    _align_parts(run, explainer, test, concepts)
    timings["prototypes_seconds"] = time.perf_counter() - tick
    fidelity = _fidelity(explainer, test, class_index, train)

    converged, n_iter = reducer_convergence(explainer.reducer_)
    if not converged:
        logger.warning("%s: the reducer stopped after %d iterations, unconverged", run, n_iter)

    relative = Path("explainers") / f"run-{run.pk}.npz"
    sha = reducer_save(explainer.reducer_, run.reducer, Path(settings.ICELAB_HOME) / relative)
    timings["total_seconds"] = time.perf_counter() - started
    with transaction.atomic():
        run.concepts.all().delete()
        Concept.objects.bulk_create(concepts)
        ExplainerRun.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED,
            error="",
            fidelity=fidelity,
            timings=timings,
            reducer_file=relative.as_posix(),
            reducer_sha256=sha,
            weights_are_estimates=bool(explainer.weights_are_estimates_),
            converged=converged,
            n_iter=n_iter,
            n_train_images=len(train),
            n_test_images=0 if test is None else len(test),
            finished_at=timezone.now(),
        )
    report(progress, 1.0, f"{run.reducer} explainer of {run.class_name!r} fitted")


def _optional_features(run: ExplainerRun, bank: FeatureBank, split: str) -> ClassFeatures | None:
    try:
        return scenario_class_features(
            scenario=run.scenario, bank=bank, split=split, class_name=run.class_name
        )
    except ValidationError:
        return None  # no test images: the run has no fidelity, and the class cannot be a trial


def _concepts(
    run: ExplainerRun, explainer: Any, train: ClassFeatures, class_index: int
) -> list[Concept]:
    """Concept rows: vector, weights, and the top training images highlighted for each concept."""
    from explainers.ice.heatmaps import blank_maps
    from explainers.ice.prototypes import visible_prototypes

    shift = run.reducer == Reducer.PCA
    all_maps = explainer.concept_maps_from_features(float_tensor_view(train.features))
    scores = all_maps.mean(dim=(1, 2)).cpu().numpy()
    # An image on which the concept's map is blank is never its prototype (DESIGN.md).
    blank = blank_maps(all_maps, shift_negative=shift)
    best = visible_prototypes(scores, blank, k=min(N_PROTOTYPES, scores.shape[0]))
    needed = sorted({int(i) for row in best for i in row})
    maps = (
        explainer.concept_maps_from_features(float_tensor_view(train.features[needed]))
        .cpu()
        .numpy()
    )
    row_of = {image: row for row, image in enumerate(needed)}
    # Each prototype image serves several concepts: read, hash and locate it once.
    geometry = scenario_geometry(scenario=run.scenario)
    pictures = {i: display_image(train.paths[i], geometry) for i in needed}
    sources = {
        i: {
            "image": dataset_relpath(dataset=run.scenario.dataset, path=train.paths[i]),
            "sha256": file_sha256(train.paths[i]),
        }
        for i in needed
    }
    concepts = []
    for k in range(explainer.components_.shape[0]):
        prototypes = []
        for image in best[k].tolist():
            name, digest = store_png(
                highlight_map(pictures[image], maps[row_of[image], :, :, k], shift_negative=shift)
            )
            prototypes.append(
                {
                    **sources[image],
                    "file": name,
                    "file_sha256": digest,
                    "score": float(scores[image, k]),
                }
            )
        weights = explainer.concept_weights_[k]
        concepts.append(
            Concept(
                run=run,
                index=k,
                vector=[float(v) for v in explainer.components_[k]],
                class_weights=[float(v) for v in weights],
                weight=float(weights[class_index]),
                prototypes=prototypes,
            )
        )
    return concepts


def _fidelity(
    explainer: Any, test: ClassFeatures | None, class_index: int, train: ClassFeatures
) -> dict[str, Any]:
    """Regression fidelity Fid_r of the class's approximate logit on its held-out images (DESIGN.md)."""
    result: dict[str, Any] = {"n_train_images": len(train)}
    error = getattr(explainer.reducer_, "reconstruction_err_", None)
    if error is not None:
        norm = float(np.linalg.norm(np.asarray(train.features, dtype=np.float64)))
        result["relative_reconstruction_error"] = float(error) / max(norm, _EPSILON)
    if test is None:
        return result
    approximate = explainer.reconstruct_logits(float_tensor_view(test.features))[:, class_index]
    result["fid_r"] = regression_fidelity(test.logits[:, class_index], approximate)
    result["n_test_images"] = len(test)
    result["model_accuracy"] = float(np.mean(np.asarray(test.logits).argmax(axis=1) == class_index))
    return result


def _align_parts(
    run: ExplainerRun, explainer: Any, test: ClassFeatures | None, concepts: list[Concept]
) -> None:
    """Best-matching ground-truth part per concept, where the dataset has part masks (synthetic)."""
    if test is None or run.scenario.dataset.kind != "synthetic":
        return
    from explainers.ice.alignment import align_concepts, stack_part_masks
    from explainers.ice.synthetic import load_part_masks

    dataset_dir = run.scenario.dataset.path
    count = min(len(test), ALIGNMENT_IMAGES)
    try:
        per_image = [load_part_masks(dataset_dir, path) for path in test.paths[:count]]
        size = next(iter(m.shape for masks in per_image for m in masks.values()))
        masks = stack_part_masks(per_image, size)
        maps = (
            explainer.concept_maps_from_features(float_tensor_view(test.features[:count]))
            .cpu()
            .numpy()
        )
        table = align_concepts(maps, masks, size, shift_negative=run.reducer == Reducer.PCA)
    except (OSError, ValueError, KeyError, StopIteration) as error:
        # Alignment is extra information; a dataset without usable masks still gets its explainers.
        logger.warning("part alignment skipped for %s: %s", run, error)
        return
    for concept, row in zip(concepts, table.itertuples(index=False), strict=True):
        if row.best_part is not None and not np.isnan(row.best_iou):
            concept.best_part, concept.best_part_iou = str(row.best_part), float(row.best_iou)
