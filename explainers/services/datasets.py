"""Registering datasets: an ImageFolder directory, or the built-in synthetic dataset."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from explainers.ice.progress import Progress, report, scaled

from ..models import Dataset
from ..selectors import folder_class_names


@transaction.atomic
def dataset_create_imagefolder(*, name: str, path: str | Path) -> Dataset:
    """Register an ImageFolder dataset (``path/train/<class>/``, ``path/test/<class>/``).

    Registering the same name and path again returns the existing row.
    """
    return dataset_register(name=name, kind=Dataset.Kind.IMAGEFOLDER, path=path)


def dataset_register(
    *,
    name: str,
    kind: str,
    path: str | Path,
    seed: int | None = None,
    generator_params: dict | None = None,
) -> Dataset:
    """Register a dataset that is already on disk (the admin's add form), reading its classes.

    Registering the same name and path again returns the existing row.
    """
    root = Path(path).expanduser().resolve()
    with transaction.atomic():
        return _dataset_get_or_create(
            name=name, kind=kind, path=root, seed=seed, params=dict(generator_params or {})
        )


def dataset_create_synthetic(
    *,
    name: str | None = None,
    seed: int = 0,
    n_classes: int = 20,
    per_class: int | tuple[int, int, int] | None = None,
    size: int = 96,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Generate (or reuse) the built-in synthetic dataset under ``ICELAB_HOME/datasets`` and register it.

    The generator is deterministic and idempotent: the same arguments give the same
    files, and an existing complete dataset is reused rather than rewritten.
    """
    from explainers.ice.synthetic import DEFAULT_PER_CLASS, make_synthetic_dataset, split_counts

    try:
        counts = split_counts(DEFAULT_PER_CLASS if per_class is None else per_class)
    except (TypeError, ValueError) as error:
        raise ValidationError(f"per_class={per_class!r}: {error}") from error
    label = "-".join(str(counts[split]) for split in ("train", "val", "test"))
    folder = (
        Path(settings.ICELAB_HOME)
        / "datasets"
        / f"synthetic-seed{seed}-{n_classes}c-{size}px-{label}"
    )
    params = {
        "n_classes": n_classes,
        "size": size,
        "per_class": [counts[s] for s in ("train", "val", "test")],
    }
    report(progress, 0.0, f"generating the synthetic dataset in {folder}")
    try:
        make_synthetic_dataset(
            folder,
            seed=seed,
            per_class=params["per_class"],
            size=size,
            n_classes=n_classes,
            workers=workers,
            progress=scaled(progress, 0.0, 1.0),
        )
    except (ValueError, TypeError, FileExistsError) as error:
        raise ValidationError(f"cannot generate the synthetic dataset: {error}") from error
    report(progress, 1.0, "synthetic dataset ready")
    with transaction.atomic():
        return _dataset_get_or_create(
            name=name or f"synthetic (seed {seed}, {n_classes} classes, {size} px)",
            kind=Dataset.Kind.SYNTHETIC,
            path=folder,
            seed=seed,
            params=params,
        )


def _dataset_get_or_create(
    *, name: str, kind: str, path: Path, seed: int | None, params: dict
) -> Dataset:
    existing = Dataset.objects.select_for_update().filter(name=name).first()
    if existing is not None:
        if Path(existing.path) != path or existing.kind != kind:
            raise ValidationError(
                f"a dataset named {name!r} already exists for {existing.path}; choose another name."
            )
        return existing
    dataset = Dataset(name=name, kind=kind, path=str(path), seed=seed, generator_params=params)
    dataset.full_clean(exclude=["class_names"])
    dataset.class_names = folder_class_names(path)
    if not dataset.class_names:
        raise ValidationError(
            {
                "path": f"{path / 'train'} has no class folders; put each class's images in train/<class>/."
            }
        )
    dataset.save()
    return dataset
