"""Stimulus images: rendered once, stored through Django's storage under content-hash names.

A name is ``stimuli/<sha256 of the PNG bytes>.png``: it says nothing about the reducer,
the class or whether the image shows the target, and identical images are stored once.
PNGs are written without any text chunks, so the file carries no metadata either.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image
from torchvision import transforms

from explainers.ice.heatmaps import concept_heatmap, highlight_concept
from icelab.storage import storage_save

from .scenarios import Geometry

STIMULI_DIR = "stimuli"


def display_image(path: str | Path, geometry: Geometry) -> Image.Image:
    """The image as the classifier saw it and as participants see it: RGB, ``crop`` × ``crop``."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    return transforms.CenterCrop(geometry.crop)(transforms.Resize(geometry.resize)(image))


def render_highlight(
    path: str | Path,
    concept_map: np.ndarray,
    *,
    geometry: Geometry,
    shift_negative: bool,
    flat_as_blank: bool = False,
) -> Image.Image:
    """The image at ``path`` with the concept (its map (h, w)) highlighted and the rest dimmed."""
    return highlight_map(
        display_image(path, geometry),
        concept_map,
        shift_negative=shift_negative,
        flat_as_blank=flat_as_blank,
    )


def highlight_map(
    image: Image.Image,
    concept_map: np.ndarray,
    *,
    shift_negative: bool,
    flat_as_blank: bool = False,
) -> Image.Image:
    """``image`` (as shown) with the concept whose score map (h, w) is given highlighted.

    ``flat_as_blank`` only for sets of draw rule v1 (see ``concept_heatmap``).
    """
    heatmap = concept_heatmap(
        concept_map,
        shift_negative=shift_negative,
        size=(image.height, image.width),
        flat_as_blank=flat_as_blank,
    )
    return highlight_concept(image, heatmap)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # No pnginfo, no optimisation passes: the bytes depend on the pixels only.
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def store_png(image: Image.Image) -> tuple[str, str]:
    """Store ``image`` under its content hash; return (storage name, sha256 of the bytes)."""
    data = png_bytes(image)
    digest = hashlib.sha256(data).hexdigest()
    name = f"{STIMULI_DIR}/{digest}.png"
    if not default_storage.exists(name):
        # A full disk or unwritable media folder raises a ServiceError and leaves no partial
        # file: one under this name would pass for the real image from then on.
        saved = storage_save(name, data)
        if saved != name:  # another process stored the same content meanwhile
            default_storage.delete(saved)
    return name, digest
