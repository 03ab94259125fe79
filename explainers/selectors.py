"""Reads: what the services, the admin and the commands look up."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import QuerySet

from icelab.errors import ServiceError

from .models import Concept, Dataset, ExplainerRun, RunStatus, Scenario, StimulusSet, Trial

SPLITS = ("train", "val", "test")


def folder_class_names(path: str | Path) -> list[str]:
    """Class folder names under ``path/train``, sorted (the ImageFolder order)."""
    train = Path(path) / "train"
    if not train.is_dir():
        return []
    return sorted(
        entry.name for entry in train.iterdir() if entry.is_dir() and not entry.name.startswith(".")
    )


def scenario_by_id_or_name(*, value: str) -> Scenario:
    """A scenario by id or by name; the error lists the scenarios there are."""
    scenario = Scenario.objects.filter(pk=int(value)).first() if value.isdigit() else None
    scenario = scenario or Scenario.objects.filter(name=value).first()
    if scenario is None:
        names = ", ".join(f"{s.pk}: {s.name}" for s in Scenario.objects.all()[:10]) or "none yet"
        raise ServiceError(f"no scenario {value!r}; existing scenarios: {names}.")
    return scenario


def dataset_image_paths(*, dataset: Dataset, split: str, class_name: str) -> list[Path]:
    """Image files of one class in one split, sorted by name; empty when the folder is missing."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; use one of {', '.join(SPLITS)}.")
    from explainers.ice.images import list_images  # imports torch: only when images are needed

    folder = Path(dataset.path) / split / class_name
    return list_images(folder) if folder.is_dir() else []


def dataset_relpath(*, dataset: Dataset, path: str | Path) -> str:
    """``path`` relative to the dataset root, with forward slashes."""
    return Path(path).resolve().relative_to(Path(dataset.path).resolve()).as_posix()


def explainer_runs_for(
    *, scenario, reducer: str, n_components: int, seed: int, classes: list[str] | None = None
) -> QuerySet[ExplainerRun]:
    runs = ExplainerRun.objects.filter(
        scenario=scenario, reducer=reducer, n_components=n_components, seed=seed
    )
    return runs.filter(class_name__in=classes) if classes is not None else runs


def succeeded_run(
    *, scenario, class_name: str, reducer: str, n_components: int, seed: int
) -> ExplainerRun | None:
    return ExplainerRun.objects.filter(
        scenario=scenario,
        class_name=class_name,
        reducer=reducer,
        n_components=n_components,
        seed=seed,
        status=RunStatus.SUCCEEDED,
    ).first()


def stimulus_set_trials(*, stimulus_set: StimulusSet) -> QuerySet[Trial]:
    return stimulus_set.trials.order_by("position")


def stored_file_url(name: str) -> str:
    return default_storage.url(name)


def trial_display(*, trial: Trial, order_seed: int | None = None) -> dict[str, Any]:
    """What a participant sees for ``trial``: the highlighted target and the candidate rows, shuffled.

    Nothing here names the reducer, the class or which candidate is the target: rows
    are labelled by their position only, and image URLs are content hashes.
    ``order_seed`` fixes the shuffle (the studies app uses a per-participant seed).
    """
    rows = [
        {"prototypes": [stored_file_url(p["file"]) for p in candidate["prototypes"]], "key": index}
        for index, candidate in enumerate(trial.candidates)
    ]
    random.Random(order_seed).shuffle(rows)
    for label, row in enumerate(rows, start=1):
        row["label"] = label
    return {
        "target": stored_file_url(trial.target_file),
        "rows": rows,
        "phase": trial.phase,
        "number": trial.position + 1,
    }


def trials_by_id(*, ids: list[int]) -> dict[int, Trial]:
    """The trials with ``ids`` (with their explainer run), keyed by id."""
    return {trial.pk: trial for trial in Trial.objects.filter(pk__in=ids).select_related("run")}


def trial_candidate_concepts(*, trial: Trial) -> list[Concept]:
    """The concept of each candidate of ``trial``, in the trial's candidate order."""
    indexes = [candidate["concept"] for candidate in trial.candidates]
    concepts = {c.index: c for c in Concept.objects.filter(run_id=trial.run_id, index__in=indexes)}
    return [concepts[index] for index in indexes]


def trial_target_concept(*, trial: Trial) -> Concept:
    return Concept.objects.get(run_id=trial.run_id, index=trial.target_concept)


def ready_stimulus_sets() -> QuerySet[StimulusSet]:
    """Sets that are built (ready, frozen or not): what a study's groups may use."""
    return StimulusSet.objects.filter(status=StimulusSet.Status.READY).select_related("scenario")


def stimulus_set_concepts(*, stimulus_set_ids: list[int]) -> QuerySet[Concept]:
    """Every concept of the explainers that the trials of these stimulus sets draw on, with its
    run (scenario, reducer, class) and its best-matching object part; one query."""
    runs = Trial.objects.filter(stimulus_set_id__in=stimulus_set_ids).values("run_id")
    return (
        Concept.objects.filter(run_id__in=runs)
        .select_related("run__scenario")
        .order_by("run_id", "index")
    )
