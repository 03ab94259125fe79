"""The ICE Lab checkpoint file: what it holds, written atomically, read back safely.

The format lives apart from :mod:`explainers.ice.classifiers`, which builds models and
fills checkpoints from them (:func:`~explainers.ice.classifiers.save_checkpoint`), so
that it knows nothing of architectures and the dependency runs one way: classifiers
imports this module, never the reverse.

Checkpoint format (a ``dict`` written by ``save_checkpoint`` with ``torch.save``, read
back with ``weights_only=True`` so loading one never runs code):

``format`` ("icelab-classifier"), ``version`` (1), ``arch``, ``arch_kwargs`` (builder
keyword arguments besides ``num_classes``), ``num_classes``, ``class_names``,
``input_size`` (square crop side, pixels), ``resize_size`` (shorter side before the
centre crop), ``mean`` and ``std`` (normalisation, per RGB channel), ``seed``,
``data_hash`` (:func:`explainers.ice.image_folders.dataset_content_hash` of the data),
``test_accuracy``, ``epochs`` (completed), ``state_dict`` (CPU tensors),
``optimizer_state`` and ``scheduler_state`` (only while training is unfinished, for
resuming), ``training`` (the settings and per-epoch history of ``train_classifier``) and
``versions`` (python, torch, torchvision, icelab).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import torchvision

from .files import atomic_file

CHECKPOINT_FORMAT = "icelab-classifier"
CHECKPOINT_VERSION = 1
_REQUIRED_KEYS = (
    "arch",
    "arch_kwargs",
    "num_classes",
    "class_names",
    "input_size",
    "mean",
    "std",
    "state_dict",
)


def library_versions() -> dict[str, str]:
    """Versions stored in checkpoints, to explain a result that later fails to reproduce."""
    try:
        icelab = metadata.version("icelab")
    except metadata.PackageNotFoundError:
        icelab = "unknown"
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "icelab": icelab,
    }


def _atomic_torch_save(obj: Any, path: Path) -> Path:
    with atomic_file(path, "wb") as stream:
        torch.save(obj, stream)
    return path


def _torch_load(path: Path, map_location: Any) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist; check the path.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for files that are not checkpoints
        raise ValueError(
            f"{path} is not a readable torch checkpoint ({type(error).__name__}: {error})."
        ) from error


def read_checkpoint(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read an ICE Lab checkpoint written by ``save_checkpoint`` (see the module docstring)."""
    path = Path(path)
    return _checked_checkpoint(_torch_load(path, map_location), path)


def _checked_checkpoint(checkpoint: Any, path: Path) -> dict[str, Any]:
    if not is_icelab_checkpoint(checkpoint):
        raise ValueError(
            f"{path} is not an ICE Lab checkpoint (no format={CHECKPOINT_FORMAT!r} entry)."
        )
    if checkpoint.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {checkpoint['version']}; this ICE Lab reads up to "
            f"{CHECKPOINT_VERSION}. Upgrade ICE Lab."
        )
    missing = [key for key in _REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"{path} is an incomplete ICE Lab checkpoint: missing {missing}.")
    return checkpoint


def is_icelab_checkpoint(obj: Any) -> bool:
    """Whether ``obj`` (a loaded file) is in ICE Lab's checkpoint format."""
    return isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT
