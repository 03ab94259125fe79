"""Reading a generated synthetic dataset: its metadata and the part masks of an image."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # torchvision is only needed by SyntheticDataset.image_folder
    from collections.abc import Callable

    from torchvision.datasets import ImageFolder

GENERATOR_NAME = "icelab-synthetic-parts"
METADATA_FILE = "metadata.json"
MASK_DIR = "masks"
SPLITS = ("train", "val", "test")


def read_metadata(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the parsed ``metadata.json`` of the synthetic dataset in ``dataset_dir``.

    Raises
    ------
    FileNotFoundError
        If there is no ``metadata.json`` (not a dataset, or one that never finished).
    ValueError
        If the file is not valid JSON or was not written by this generator.
    """
    path = Path(dataset_dir) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist, so {str(dataset_dir)!r} is not a finished synthetic dataset;"
            " generate one with make_synthetic_dataset() or `manage.py make_synthetic_dataset --out DIR`."
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{str(path)!r} is not valid JSON ({error}); regenerate the dataset with force=True."
        ) from error
    generator = metadata.get("generator") if isinstance(metadata, dict) else None
    if not isinstance(generator, dict) or generator.get("name") != GENERATOR_NAME:
        raise ValueError(f"{str(path)!r} was not written by the {GENERATOR_NAME!r} generator.")
    return metadata


def load_part_masks(
    dataset_dir: str | os.PathLike[str], image_path: str | os.PathLike[str]
) -> dict[str, np.ndarray]:
    """Return the pixel mask of every part shown in one image of the dataset.

    Parameters
    ----------
    dataset_dir : path
        The dataset directory (the one holding ``metadata.json``).
    image_path : path
        The image, relative to ``dataset_dir`` (``"train/car/00000.png"``) or an absolute
        path inside it (as found in ``ImageFolder.samples``).

    Returns
    -------
    dict of str to numpy.ndarray
        ``{part name: bool array of shape (size, size)}`` for the parts present in the
        image (absent parts are not keys); True where that part's pixels are.
    """
    root = Path(dataset_dir)
    index = _image_index(root)
    relative = _relative_image_path(root, image_path)
    entry = index.images.get(relative)
    if entry is None:
        raise ValueError(
            f"image_path={str(image_path)!r} is not an image of the dataset in {str(root)!r};"
            " give a path relative to it such as 'train/<class>/00000.png'."
        )
    mask_path, parts = entry
    with Image.open(root / mask_path) as mask_image:
        labels = np.asarray(mask_image, dtype=np.uint8)
    return {part: labels == index.part_ids[part] for part in parts}


def _relative_image_path(root: Path, image_path: str | os.PathLike[str]) -> str:
    path = Path(image_path)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(root.resolve())
        except ValueError:
            raise ValueError(
                f"image_path={str(image_path)!r} is not inside the dataset directory {str(root)!r}."
            ) from None
    return path.as_posix()


@dataclass(frozen=True)
class _ImageIndex:
    images: dict[str, tuple[str, tuple[str, ...]]]  # image path -> (mask path, parts)
    part_ids: dict[str, int]


def _image_index(root: Path) -> _ImageIndex:
    # Keyed on the file's identity and mtime, so a regenerated dataset is never served stale masks.
    path = root / METADATA_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        read_metadata(root)  # raises the explanatory error
        raise
    return _cached_index(str(path.resolve()), stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=8)
def _cached_index(metadata_path: str, mtime_ns: int, inode: int) -> _ImageIndex:
    metadata = read_metadata(Path(metadata_path).parent)
    images = {
        record["path"]: (record["mask"], tuple(record["parts"])) for record in metadata["images"]
    }
    return _ImageIndex(
        images=images, part_ids={part["name"]: part["id"] for part in metadata["parts"]}
    )


class SyntheticDataset:
    """A generated synthetic dataset on disk, with its metadata.

    Parameters
    ----------
    root : path
        The dataset directory.

    Examples
    --------
    >>> data = SyntheticDataset("var/datasets/synthetic")          # doctest: +SKIP
    >>> train = data.image_folder("train")                          # doctest: +SKIP
    >>> masks = data.part_masks(train.samples[0][0])                # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.metadata = read_metadata(self.root)

    @property
    def classes(self) -> list[str]:
        """Class names in ImageFolder order (sorted)."""
        return list(self.metadata["classes"])

    @property
    def class_parts(self) -> dict[str, list[str]]:
        """``{class: [part, ...]}``: the parts every image of the class shows."""
        return {name: list(parts) for name, parts in self.metadata["class_parts"].items()}

    @property
    def parts(self) -> list[str]:
        """The whole part vocabulary, in id order."""
        return [part["name"] for part in self.metadata["parts"]]

    @property
    def seed(self) -> int:
        return int(self.metadata["seed"])

    @property
    def size(self) -> int:
        """Image side in pixels."""
        return int(self.metadata["size"])

    def split_dir(self, split: str) -> Path:
        """The ImageFolder root of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is not one of {SPLITS}.")
        return self.root / split

    def records(self, split: str | None = None) -> list[dict[str, Any]]:
        """Per-image records (path, class, parts, part_pixels, mask), of one split or all."""
        if split is not None:
            self.split_dir(split)  # validates the name
        return [
            record
            for record in self.metadata["images"]
            if split is None or record["split"] == split
        ]

    def part_masks(self, image_path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
        """Masks of the parts in one image; see :func:`load_part_masks`."""
        return load_part_masks(self.root, image_path)

    def image_folder(
        self, split: str, transform: Callable[[Any], Any] | None = None
    ) -> ImageFolder:
        """A torchvision ``ImageFolder`` over ``split``; its ``classes`` equal :attr:`classes`."""
        from torchvision.datasets import ImageFolder

        return ImageFolder(str(self.split_dir(split)), transform=transform)
