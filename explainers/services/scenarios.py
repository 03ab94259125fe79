"""Scenarios (dataset + classifier + layer + input size) and their cached activations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import Classifier, Dataset, Scenario
from ..selectors import dataset_image_paths
from .classifiers import classifier_layer_names, classifier_load

if TYPE_CHECKING:  # torch is imported when features are needed, so starting Django stays fast
    from collections.abc import Callable

    import torch

    from explainers.ice.feature_bank import ClassFeatures, FeatureBank
    from explainers.ice.features import FeatureExtractor

_SHOWN_LAYERS = 40
# Real images the head check runs on: the first training image of this many classes.
HEAD_CHECK_IMAGES = 4


@dataclass(frozen=True)
class Geometry:
    """The classifier's view of an image: shorter side resized to ``resize``, centre crop ``crop`` × ``crop``.

    Stimuli show exactly this crop, so a concept map (which covers the crop) lines up
    with the pixels it is drawn on, whatever the image's aspect ratio.
    """

    resize: int
    crop: int


@transaction.atomic
def scenario_create(
    *,
    dataset: Dataset,
    classifier: Classifier,
    layer: str,
    input_size: int | None = None,
    name: str | None = None,
) -> Scenario:
    """Create the scenario, or return the existing one for the same dataset, classifier, layer and size.

    Raises ValidationError when the layer is not a module of the classifier (listing
    the valid ones) or the dataset's classes cannot be matched to the classifier's outputs.
    """
    scenario = Scenario(
        dataset=dataset,
        classifier=classifier,
        layer=layer,
        input_size=input_size or classifier.input_size,
        name=name or f"{dataset.name} · {classifier.name} · {layer}",
    )
    existing = Scenario.objects.filter(
        dataset=dataset, classifier=classifier, layer=layer, input_size=scenario.input_size
    ).first()
    if existing is not None:
        return existing
    scenario_validate(scenario=scenario)
    scenario.full_clean()
    scenario.save()
    return scenario


def scenario_validate(*, scenario: Scenario) -> None:
    """The checks that need the model: the layer exists, every dataset class maps to an output,
    and the head after the layer reproduces the model's logits (recorded on ``scenario``)."""
    layers = classifier_layer_names(classifier=scenario.classifier)
    if scenario.layer not in layers:
        if len(layers) <= _SHOWN_LAYERS:
            shown = f"valid layers: {', '.join(layers)}"
        else:
            top_level = [name for name in layers if "." not in name]
            shown = (
                f"top-level layers: {', '.join(top_level)}; nested modules (e.g. {layers[-3]}) "
                f"also work, {len(layers)} in all"
            )
        raise ValidationError(
            {"layer": f"{scenario.layer!r} is not a layer of {scenario.classifier.arch}; {shown}."}
        )
    scenario_class_indices(scenario=scenario)
    scenario_check_head(scenario=scenario, force=True)


def scenario_check_head(
    *,
    scenario: Scenario,
    force: bool = False,
    device: str | torch.device = "cpu",
    extractor: FeatureExtractor | None = None,
    transform: Callable | None = None,
) -> Scenario:
    """Check that head(E(I)) reproduces the classifier's logits F(I) on a few real images.

    ICE computes every logit, concept weight and approximate model from the head
    detected after the layer; a layer that is not a clean cut of the network (a side
    branch around it, a forward that does more than its modules show) would make all
    of them wrong without an error. The check runs on the first training image of the
    first classes, once per scenario: it is recorded on the row (``head_checked_at``,
    ``head_max_difference``) and skipped afterwards unless ``force`` (a changed layer).

    Raises ValidationError naming the layer and the largest difference.
    """
    if scenario.head_checked_at is None and scenario.pk is not None and not force:
        # The instance may predate a check another process recorded.
        scenario.head_checked_at, scenario.head_max_difference = (
            Scenario.objects.filter(pk=scenario.pk)
            .values_list("head_checked_at", "head_max_difference")
            .get()
        )
    if scenario.head_checked_at is not None and not force:
        return scenario
    if extractor is None or transform is None:
        extractor, transform = _extractor_and_transform(scenario, device)
    try:
        difference = extractor.verify_head(_head_check_images(scenario, transform))
    except ValueError as error:
        raise ValidationError({"layer": f"{error}"}) from error
    scenario.head_checked_at, scenario.head_max_difference = timezone.now(), difference
    if scenario.pk is not None:
        Scenario.objects.filter(pk=scenario.pk).update(
            head_checked_at=scenario.head_checked_at, head_max_difference=difference
        )
    return scenario


def _head_check_images(scenario: Scenario, transform: Callable) -> torch.Tensor:
    import torch
    from PIL import Image

    paths = []
    for class_name in sorted(scenario.dataset.class_names):
        found = dataset_image_paths(dataset=scenario.dataset, split="train", class_name=class_name)
        paths.extend(found[:1])
        if len(paths) == HEAD_CHECK_IMAGES:
            break
    if not paths:
        raise ValidationError(
            f"dataset {scenario.dataset.name!r} has no training images to check the layer "
            f"{scenario.layer!r} on; add images under {Path(scenario.dataset.path) / 'train'}."
        )
    images = []
    for path in paths:
        with Image.open(path) as opened:
            images.append(transform(opened.convert("RGB")))
    return torch.stack(images)


def scenario_class_indices(*, scenario: Scenario) -> dict[str, int]:
    """Output index of each dataset class.

    By name when the classifier records class names that include every dataset class;
    otherwise by position in the sorted class folders (ImageFolder's order) when the
    counts agree — ImageNet folders are WordNet ids while torchvision names the outputs.
    """
    classes = list(scenario.dataset.class_names)
    names = list(scenario.classifier.class_names)
    if names and set(classes) <= set(names):
        return {name: names.index(name) for name in classes}
    if len(classes) == scenario.classifier.num_classes:
        return {name: index for index, name in enumerate(sorted(classes))}
    raise ValidationError(
        f"the dataset's {len(classes)} classes cannot be matched to the classifier's "
        f"{scenario.classifier.num_classes} outputs: their names are not among the classifier's class names "
        "and the counts differ. Use the classifier trained on this dataset."
    )


def scenario_geometry(*, scenario: Scenario) -> Geometry:
    """How the scenario's images are cropped for the classifier (and therefore shown).

    The classifier's own resize/crop ratio is kept when the scenario asks for another size.
    """
    classifier = scenario.classifier
    ratio = (classifier.resize_size or classifier.input_size) / classifier.input_size
    return Geometry(resize=round(scenario.input_size * ratio), crop=scenario.input_size)


def scenario_feature_bank(
    *, scenario: Scenario, device: str | torch.device = "auto"
) -> FeatureBank:
    """The feature bank of the scenario's classifier, layer and preprocessing.

    The bank's entries are keyed by classifier, layer, split and images, not by the
    preprocessing, so each resize/crop geometry gets its own folder under
    ``ICELAB_HOME/features``.
    """
    from explainers.ice.feature_bank import FeatureBank

    extractor, transform = _extractor_and_transform(scenario, device)
    # The bank stores head(E(I)) as the logits: a scenario created before the head check
    # existed is checked here, before its first fit.
    scenario_check_head(scenario=scenario, extractor=extractor, transform=transform)
    geometry = scenario_geometry(scenario=scenario)
    return FeatureBank(
        Path(settings.ICELAB_HOME) / "features" / f"resize{geometry.resize}-crop{geometry.crop}",
        extractor,
        classifier_hash=scenario.classifier.sha256 or None,
        transform=transform,
        workers=settings.ICELAB_LOADER_WORKERS,
    )


def _extractor_and_transform(
    scenario: Scenario, device: str | torch.device
) -> tuple[FeatureExtractor, Callable]:
    """The scenario's feature extractor and the preprocessing its images get."""
    from explainers.ice.classifiers import eval_transform
    from explainers.ice.devices import resolve_device
    from explainers.ice.features import FeatureExtractor

    resolved = resolve_device(device)
    classifier = scenario.classifier
    geometry = scenario_geometry(scenario=scenario)
    model = classifier_load(classifier=classifier, device=resolved)
    extractor = FeatureExtractor(
        model, scenario.layer, device=resolved, input_size=(geometry.crop, geometry.crop)
    )
    transform = eval_transform(
        {
            "resize_size": geometry.resize,
            "input_size": geometry.crop,
            "mean": classifier.mean,
            "std": classifier.std,
        }
    )
    return extractor, transform


def scenario_class_features(
    *, scenario: Scenario, bank: FeatureBank, split: str, class_name: str
) -> ClassFeatures:
    """One class's activations (n, h, w, c) and logits from the bank; ValidationError if it has no images."""
    paths = dataset_image_paths(dataset=scenario.dataset, split=split, class_name=class_name)
    if not paths:
        raise ValidationError(
            f"class {class_name!r} has no {split} images in {Path(scenario.dataset.path) / split / class_name}."
        )
    return bank.get(split, class_name, paths)
