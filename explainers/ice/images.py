"""Reading image files into model-ready batches: decoding, resizing, normalisation.

Decoding runs in DataLoader workers. A file that cannot be decoded is skipped and
reported instead of stopping the run half-way, so a cache is never left partial.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def images_content_hash(paths: Sequence[str | Path], root: str | Path | None = None) -> str:
    """sha256 over the ordered (relative path, file sha256) pairs: any change to any image changes it."""
    digest = hashlib.sha256()
    for path in paths:
        name = str(Path(path).relative_to(root)) if root is not None else Path(path).name
        digest.update(name.encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


class _ImageFiles(Dataset):
    def __init__(self, paths: Sequence[Path], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None]:
        try:
            with Image.open(self.paths[index]) as image:
                return index, self.transform(image.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError):
            return index, None


def _collate(
    items: list[tuple[int, torch.Tensor | None]],
) -> tuple[list[int], list[int], torch.Tensor | None]:
    kept = [(i, t) for i, t in items if t is not None]
    failed = [i for i, t in items if t is None]
    batch = torch.stack([t for _, t in kept]) if kept else None
    return [i for i, _ in kept], failed, batch


@dataclass
class DecodedBatches:
    """Iterates (indices, batch (b, 3, H, W)) over readable images; ``failed`` lists the unreadable ones."""

    paths: Sequence[Path]
    transform: Callable[[Image.Image], torch.Tensor]
    batch_size: int = 64
    workers: int = 2
    failed: list[Path] = field(default_factory=list)

    def __iter__(self) -> Iterator[tuple[list[int], torch.Tensor]]:
        loader = DataLoader(
            _ImageFiles(self.paths, self.transform),
            batch_size=self.batch_size,
            num_workers=self.workers if len(self.paths) > self.batch_size else 0,
            collate_fn=_collate,
            shuffle=False,
        )
        for indices, failed, batch in loader:
            self.failed.extend(self.paths[i] for i in failed)
            if batch is not None:
                yield indices, batch


def list_images(directory: str | Path) -> list[Path]:
    """Image files directly inside ``directory``, sorted by name."""
    return sorted(
        p for p in Path(directory).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
