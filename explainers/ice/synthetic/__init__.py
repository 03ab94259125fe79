"""The built-in synthetic dataset: procedurally drawn images whose concepts are known.

Each class is a set of two to four named parts (wheel, eye, beak, ladder, ...) drawn
among background clutter and distractor shapes; every image comes with a pixel mask
per part, so a concept found by an explainer can be checked against the ground truth.
See ``docs/synthetic-dataset.md``.

>>> from explainers.ice.synthetic import make_synthetic_dataset, load_part_masks  # doctest: +SKIP
>>> result = make_synthetic_dataset("var/datasets/synthetic", seed=0)              # doctest: +SKIP
>>> load_part_masks(result.path, "train/car/00000.png")["wheel"].shape             # doctest: +SKIP
(96, 96)
"""

from __future__ import annotations

from .classes import CLASSES, CLASSES_BY_NAME, DEFAULT_N_CLASSES, ClassDefinition, select_classes
from .dataset import (
    DEFAULT_PER_CLASS,
    GENERATOR_VERSION,
    MAX_SIZE,
    MIN_SIZE,
    GenerationResult,
    image_seed,
    make_synthetic_dataset,
    split_counts,
)
from .loading import GENERATOR_NAME, SPLITS, SyntheticDataset, load_part_masks, read_metadata
from .parts import PART_IDS, PART_NAMES, PARTS, PARTS_BY_NAME, Part
from .render import RenderedImage, render_image

__all__ = [
    "CLASSES",
    "CLASSES_BY_NAME",
    "DEFAULT_N_CLASSES",
    "DEFAULT_PER_CLASS",
    "GENERATOR_NAME",
    "GENERATOR_VERSION",
    "MAX_SIZE",
    "MIN_SIZE",
    "PARTS",
    "PARTS_BY_NAME",
    "PART_IDS",
    "PART_NAMES",
    "SPLITS",
    "ClassDefinition",
    "GenerationResult",
    "Part",
    "RenderedImage",
    "SyntheticDataset",
    "image_seed",
    "load_part_masks",
    "make_synthetic_dataset",
    "read_metadata",
    "render_image",
    "select_classes",
    "split_counts",
]
