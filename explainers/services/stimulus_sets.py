"""Building, freezing and looking after stimulus sets (DESIGN.md "The study, exactly").

The draws follow :mod:`explainers.ice.stimuli`; this module fits or reuses the
explainers those draws need, renders the target images, and stores the trials.
Building is idempotent: a set that is ready (or frozen) is returned as it is; a set
whose build failed is built again from the same seed, giving the same trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from explainers.ice import stimuli
from explainers.ice.images import file_sha256
from explainers.ice.progress import Progress, report, scaled
from icelab.errors import error_message

from ..models import DrawRule, ExplainerRun, Reducer, Scenario, StimulusSet, Trial
from ..selectors import dataset_image_paths, dataset_relpath
from .explainer_runs import check_reducer, explainer_runs_fit, run_concept_maps
from .scenarios import scenario_class_features, scenario_feature_bank, scenario_geometry
from .stimulus_files import render_highlight, store_png


def stimulus_set_build(
    *,
    scenario: Scenario,
    reducer: str,
    seed: int = 0,
    n_classes: int = stimuli.N_CLASSES,
    n_training: int = stimuli.N_TRAINING,
    n_components: int = 10,
    explainer_seed: int = 0,
    draw_rule: str | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> StimulusSet:
    """Build (or return) the stimulus set of ``scenario`` and ``reducer`` drawn from ``seed``.

    ``draw_rule`` (:class:`~explainers.models.DrawRule`): None builds a new set under the
    current rule and an existing one under the rule it records; pass "v1" only to
    rebuild a set that was built under it (e.g. after deleting a draft to regenerate it).

    Raises ValidationError when the dataset has fewer than ``n_classes`` classes or a
    drawn class has too few test images for the top-10% rule (messages give the counts),
    or when ``draw_rule`` differs from the rule of the existing set with these settings.
    """
    reducer = check_reducer(reducer)
    if draw_rule is not None and draw_rule not in DrawRule.values:
        raise ValidationError(
            f"draw_rule={draw_rule!r}; choose one of {', '.join(DrawRule.values)}."
        )
    key = {
        "scenario": scenario,
        "reducer": reducer,
        "seed": seed,
        "n_classes": n_classes,
        "n_training": n_training,
        "n_components": n_components,
        "explainer_seed": explainer_seed,
    }
    stimulus_set = _set_get_or_create(key, draw_rule or stimuli.CURRENT_DRAW_RULE)
    if draw_rule is not None and stimulus_set.draw_rule != draw_rule:
        raise ValidationError(
            f"stimulus set {stimulus_set.pk} has these settings and was drawn under rule "
            f"{stimulus_set.draw_rule!r}, not {draw_rule!r}; use another seed for a new set."
        )
    if stimulus_set.is_frozen or stimulus_set.status == StimulusSet.Status.READY:
        return stimulus_set
    StimulusSet.objects.filter(pk=stimulus_set.pk).update(
        status=StimulusSet.Status.BUILDING, error=""
    )
    try:
        _build(stimulus_set, device, progress)
    except Exception as error:
        message = error_message(error)
        StimulusSet.objects.filter(pk=stimulus_set.pk).update(
            status=StimulusSet.Status.FAILED, error=message
        )
        if isinstance(error, ValueError):
            raise ValidationError(str(error)) from error
        raise
    stimulus_set.refresh_from_db()
    return stimulus_set


def stimulus_set_freeze(*, stimulus_set: StimulusSet) -> StimulusSet:
    """Freeze a ready set (a launched study uses it): record its manifest; it can never change again."""
    from .manifest import stimulus_set_manifest

    with transaction.atomic():
        locked = StimulusSet.objects.select_for_update().get(pk=stimulus_set.pk)
        if locked.is_frozen:
            return locked
        if locked.status != StimulusSet.Status.READY:
            raise ValidationError(
                f"stimulus set {locked.pk} is {locked.status}; build it before freezing it."
            )
        locked.manifest = stimulus_set_manifest(stimulus_set=locked)
        locked.frozen_at = timezone.now()
        locked.save(update_fields=["manifest", "frozen_at"])
    return locked


def check_stimulus_classes(
    *, scenario: Scenario, classes: list[str], top_fraction: float = stimuli.TOP_FRACTION
) -> None:
    """Every drawn class has enough test images for the top-10% rule; one message lists all that do not."""
    needed = int(np.ceil(1.0 / top_fraction - 1e-9))
    short = {}
    for name in classes:
        count = len(dataset_image_paths(dataset=scenario.dataset, split="test", class_name=name))
        if count < needed:
            short[name] = count
    if short:
        listing = ", ".join(f"{name!r} has {count}" for name, count in short.items())
        raise ValidationError(
            f"drawing the target from the top {top_fraction:.0%} of a class's test images needs at least "
            f"{needed} test images per class: {listing}. Add test images or use another seed."
        )


def _set_get_or_create(key: dict, draw_rule: str) -> StimulusSet:
    try:
        with transaction.atomic():
            return StimulusSet.objects.get_or_create(**key, defaults={"draw_rule": draw_rule})[0]
    except IntegrityError:
        return StimulusSet.objects.get(**key)


@dataclass(frozen=True)
class _ClassData:
    run: ExplainerRun
    test_paths: tuple[str, ...]
    train_paths: tuple[str, ...]
    test_maps: np.ndarray  # (n_test, h, w, c')
    train_maps: np.ndarray  # (n_train, h, w, c')


def _build(stimulus_set: StimulusSet, device: str, progress: Progress | None) -> None:
    scenario = stimulus_set.scenario
    classes = stimuli.draw_classes(
        scenario.dataset.class_names, stimulus_set.n_classes, seed=stimulus_set.seed
    )
    stimuli.trial_phases(len(classes), stimulus_set.n_training)  # validates before any fitting
    check_stimulus_classes(scenario=scenario, classes=classes)
    runs = explainer_runs_fit(
        scenario=scenario,
        reducer=stimulus_set.reducer,
        n_components=stimulus_set.n_components,
        classes=classes,
        seed=stimulus_set.explainer_seed,
        device=device,
        progress=scaled(progress, 0.0, 0.7),
    )
    bank = scenario_feature_bank(scenario=scenario, device=device)
    data, evidence = {}, {}
    for index, run in enumerate(runs):
        report(progress, 0.7 + 0.2 * index / len(runs), f"concept scores of {run.class_name!r}")
        train = scenario_class_features(
            scenario=scenario, bank=bank, split="train", class_name=run.class_name
        )
        test = scenario_class_features(
            scenario=scenario, bank=bank, split="test", class_name=run.class_name
        )
        data[run.class_name] = _ClassData(
            run=run,
            test_paths=test.paths,
            train_paths=train.paths,
            test_maps=run_concept_maps(run, np.asarray(test.features), device=device),
            train_maps=run_concept_maps(run, np.asarray(train.features), device=device),
        )
        evidence[run.class_name] = _evidence(run, data[run.class_name], stimulus_set.reducer)
    plans = stimuli.plan_trials(
        classes,
        evidence,
        seed=stimulus_set.seed,
        reducer=stimulus_set.reducer,
        draw_rule=stimulus_set.draw_rule,
        n_training=stimulus_set.n_training,
    )
    report(progress, 0.9, "rendering the target images")
    trials = [_trial(stimulus_set, plan, data[plan.class_name]) for plan in plans]
    with transaction.atomic():
        stimulus_set.trials.all().delete()
        Trial.objects.bulk_create(trials)
        StimulusSet.objects.filter(pk=stimulus_set.pk).update(
            classes=classes,
            status=StimulusSet.Status.READY,
            error="",
            built_at=timezone.now(),
        )
    report(progress, 1.0, f"stimulus set {stimulus_set.pk} ready: {len(trials)} trials")


def _evidence(run: ExplainerRun, data: _ClassData, reducer: str) -> stimuli.ClassEvidence:
    from explainers.ice.heatmaps import blank_maps

    shift = reducer == Reducer.PCA
    return stimuli.ClassEvidence(
        class_weights=np.asarray([c.weight for c in run.concepts.order_by("index")]),
        test_scores=data.test_maps.mean(axis=(1, 2)),
        train_scores=data.train_maps.mean(axis=(1, 2)),
        test_blank=blank_maps(data.test_maps, shift_negative=shift),
        train_blank=blank_maps(data.train_maps, shift_negative=shift),
    )


def _trial(stimulus_set: StimulusSet, plan: stimuli.TrialPlan, data: _ClassData) -> Trial:
    from explainers.ice.heatmaps import has_contrast

    dataset = stimulus_set.scenario.dataset
    shift = stimulus_set.reducer == Reducer.PCA
    # Rule v1 showed every map without contrast dimmed; its sets are rebuilt as they were.
    legacy = stimulus_set.draw_rule == DrawRule.V1
    source = data.test_paths[plan.target_image]
    target_map = data.test_maps[plan.target_image, :, :, plan.target_concept]
    geometry = scenario_geometry(scenario=stimulus_set.scenario)
    target_file, target_sha = store_png(
        render_highlight(
            source, target_map, geometry=geometry, shift_negative=shift, flat_as_blank=legacy
        )
    )
    stored = {c.index: {p["image"]: p for p in c.prototypes} for c in data.run.concepts.all()}
    candidates = []
    for candidate in plan.candidates:
        prototypes = []
        for image in candidate.prototypes:
            path = data.train_paths[image]
            concept_map = data.train_maps[image, :, :, candidate.concept]
            entry = stored.get(candidate.concept, {}).get(
                dataset_relpath(dataset=dataset, path=path)
            )
            if legacy and not has_contrast(concept_map):
                entry = None  # the fit rendered it under the current rule
            if entry is None:
                # Recomputed scores ordered a near-tie differently from the fit (or see above).
                name, digest = store_png(
                    render_highlight(
                        path,
                        concept_map,
                        geometry=geometry,
                        shift_negative=shift,
                        flat_as_blank=legacy,
                    )
                )
                entry = {
                    "image": dataset_relpath(dataset=dataset, path=path),
                    "sha256": file_sha256(path),
                    "file": name,
                    "file_sha256": digest,
                }
            prototypes.append(
                {key: entry[key] for key in ("image", "sha256", "file", "file_sha256")}
            )
        candidates.append(
            {"concept": candidate.concept, "weight": candidate.weight, "prototypes": prototypes}
        )
    return Trial(
        stimulus_set=stimulus_set,
        position=plan.position,
        phase=plan.phase,
        class_name=plan.class_name,
        run=data.run,
        target_concept=plan.target_concept,
        target_percentile=plan.target_percentile,
        target_image=dataset_relpath(dataset=dataset, path=source),
        target_image_sha256=file_sha256(source),
        target_file=target_file,
        target_file_sha256=target_sha,
        concept_weights=list(plan.concept_weights),
        candidates=candidates,
    )
