"""Registering classifiers and loading them once per process."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Classifier

if TYPE_CHECKING:  # torch is imported by the functions that need it, so starting Django stays fast
    import torch
    from torch import nn

_MODELS: dict[tuple[int, str, str], nn.Module] = {}
_LOCK = threading.Lock()


@transaction.atomic
def classifier_create(
    *, name: str, arch: str | None = None, weights: str = "", checkpoint: str | Path = ""
) -> Classifier:
    """Register a classifier from torchvision weights or a local checkpoint.

    The model is loaded once to check that it loads and to record its class names,
    input size, normalisation and the sha256 of its weights file. Registering the
    same name with the same weights again returns the existing row.
    """
    checkpoint = str(Path(checkpoint).expanduser().resolve()) if checkpoint else ""
    existing = Classifier.objects.select_for_update().filter(name=name).first()
    if existing is not None:
        if (existing.weights, existing.checkpoint) != (weights, checkpoint) or (
            arch and arch != existing.arch
        ):
            raise ValidationError(
                f"a classifier named {name!r} already exists with other weights; choose another name."
            )
        return existing
    classifier = Classifier(name=name, arch=arch or "", weights=weights, checkpoint=checkpoint)
    classifier.full_clean(exclude=["arch"] if not arch else None)
    classifier_fill_meta(classifier=classifier)
    classifier.full_clean()
    classifier.save()
    return classifier


def classifier_fill_meta(*, classifier: Classifier) -> None:
    """Load the weights and copy what the model records (arch, classes, preprocessing) onto ``classifier``."""
    from explainers.ice.classifiers import load_classifier, resolve_weights_enum, weights_cache_path
    from explainers.ice.images import file_sha256

    source = classifier.checkpoint or classifier.weights
    try:
        model = load_classifier(classifier.arch or None, source, map_location="cpu")
    except (ValueError, FileNotFoundError, TypeError) as error:
        raise ValidationError(f"cannot load classifier {classifier.name!r}: {error}") from error
    meta = model.icelab_meta
    classifier.arch = meta["arch"]
    classifier.class_names = list(meta.get("class_names") or [])
    classifier.num_classes = int(meta["num_classes"])
    classifier.input_size = int(meta["input_size"])
    classifier.resize_size = int(meta.get("resize_size") or meta["input_size"])
    classifier.mean = [float(v) for v in meta["mean"]]
    classifier.std = [float(v) for v in meta["std"]]
    weights_file = (
        Path(classifier.checkpoint)
        if classifier.checkpoint
        else weights_cache_path(resolve_weights_enum(classifier.arch, classifier.weights))
    )
    classifier.sha256 = file_sha256(weights_file)


def classifier_load(*, classifier: Classifier, device: str | torch.device = "cpu") -> nn.Module:
    """The classifier's model on ``device``, loaded once per process and per weights file."""
    from explainers.ice.classifiers import load_classifier
    from explainers.ice.devices import resolve_device

    resolved = str(resolve_device(device))
    key = (classifier.pk, classifier.sha256, resolved)
    with _LOCK:
        if key not in _MODELS:
            source = classifier.checkpoint or classifier.weights
            _MODELS[key] = load_classifier(classifier.arch, source, map_location=resolved)
        return _MODELS[key]


def classifier_layer_names(*, classifier: Classifier) -> list[str]:
    """Names of the model's modules, in definition order (the layers a scenario may explain)."""
    model = classifier_load(classifier=classifier, device="cpu")
    return [name for name, _ in model.named_modules() if name]
