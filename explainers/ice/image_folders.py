"""ImageFolder datasets (``DIR/<split>/<class>/<image>``) as training reads them.

Scanning, hashing, holding out and decoding the images live here, apart from the
training loop, because they decide what a run was trained and tested on: the data hash
and held-out split stored in a checkpoint must not change when the loop does.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

HOLDOUT_FRACTION = 0.1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def dataset_content_hash(directory: str | os.PathLike) -> str:
    """sha256 identifying every file under ``directory``: names and bytes.

    Regular files are taken in the order of their relative POSIX paths (hidden files and
    folders, names starting with ".", are ignored); for each, the digest is fed the UTF-8
    path, a NUL byte, the file's size as 8 big-endian bytes and the file's bytes.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory; pass the dataset folder.")
    digest = hashlib.sha256()
    for path in sorted(_visible_files(root), key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _visible_files(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(folder, f) for f in files if not f.startswith(".")]
    return found


@dataclass
class ScannedSplit:
    """The readable images of one split folder (``train``, ``val`` or ``test``)."""

    root: Path
    class_names: list[str]
    samples: list[tuple[str, int]]  # (path, class index)
    skipped: list[str] = field(default_factory=list)  # "path: reason" for unreadable files
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each sample

    def __len__(self) -> int:
        return len(self.samples)


def scan_split(split_dir: Path, class_names: Sequence[str] | None = None) -> ScannedSplit:
    """List and decode every image of ``split_dir/<class>/``; unreadable ones are skipped and reported.

    Decoding everything before training finds a corrupt file in seconds rather than an
    hour into training. ``class_names`` (train's) maps val/test folders to labels.
    """
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = [p.name for p in folders]
    if class_names is None and len(folders) < 2:
        raise ValueError(
            f"{split_dir} needs at least 2 class folders (DIR/train/<class>/<image>), found {names}."
        )
    known = list(class_names) if class_names is not None else names
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(
            f"{split_dir} has class folders {unknown} that train/ lacks; the splits must share classes."
        )
    split = ScannedSplit(split_dir, known, [])
    for folder in folders:
        _scan_class(split, folder, known.index(folder.name))
    return split


def _scan_class(split: ScannedSplit, folder: Path, label: int) -> None:
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise ValueError(
            f"Class folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder."
        )
    readable = 0
    for path in files:
        try:
            split.sizes.append(_decoded_size(path))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            split.skipped.append(f"{path}: {type(error).__name__}: {error}")
            continue
        split.samples.append((str(path), label))
        readable += 1
    if not readable:
        raise ValueError(f"Class folder {folder} has no readable image (e.g. {split.skipped[-1]}).")


def _decoded_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        size = image.size
        image.draft(
            "RGB", (64, 64)
        )  # JPEGs decode at reduced scale: fast, and still detects corruption
        image.load()
    return size


def split_holdout(
    train: ScannedSplit, fraction: float = HOLDOUT_FRACTION
) -> tuple[ScannedSplit, ScannedSplit]:
    """Split ``train`` into (kept, held out), holding out ``fraction`` of each class (at least 1 of 2+).

    Images are ranked by the sha256 of their path relative to the split folder, so the
    choice depends on neither the seed nor the machine, and adding images moves few others.
    """

    def rank(sample: tuple[str, int]) -> str:
        return hashlib.sha256(
            Path(sample[0]).relative_to(train.root).as_posix().encode()
        ).hexdigest()

    held: set[str] = set()
    for label in range(len(train.class_names)):
        ranked = sorted((s for s in train.samples if s[1] == label), key=rank)
        count = max(1, round(fraction * len(ranked))) if len(ranked) >= 2 else 0
        held.update(path for path, _ in ranked[:count])
    keep = [i for i, (path, _) in enumerate(train.samples) if path not in held]
    kept = ScannedSplit(
        train.root,
        train.class_names,
        [train.samples[i] for i in keep],
        train.skipped,
        [train.sizes[i] for i in keep],
    )
    return kept, ScannedSplit(
        train.root, train.class_names, [s for s in train.samples if s[0] in held]
    )


class ImageFiles(Dataset):
    """(path, label) samples -> (transformed RGB image, label)."""

    def __init__(
        self, samples: Sequence[tuple[str, int]], transform: Callable[[Image.Image], torch.Tensor]
    ) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                return self.transform(image.convert("RGB")), label
        except OSError as error:  # scan_split decoded it, so the file changed since
            raise RuntimeError(
                f"{path} could no longer be read ({error}); restore it and re-run to resume."
            ) from error


def decode_all(split: ScannedSplit) -> torch.Tensor:
    """Every image of ``split`` (all one size) as one ``(n, 3, h, w)`` uint8 tensor."""
    width, height = split.sizes[0]
    pixels = torch.empty((len(split), 3, height, width), dtype=torch.uint8)
    for index, (path, _) in enumerate(split.samples):
        with Image.open(path) as image:
            pixels[index] = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    return pixels
