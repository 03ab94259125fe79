"""A disk cache of layer activations per (classifier, layer, split, class).

Running the CNN is the expensive step; explainers, fidelity sweeps and stimulus
building all reuse the same activations. Entries are memory-mapped ``.npy`` files
keyed by content hashes of the classifier's weights and of the image files, so a
changed checkpoint or a changed image makes a new entry instead of a stale hit.

Layout (``root`` is normally ``$ICELAB_HOME/features``)::

    root/<classifier sha[:16]>/<layer>/<split>/<class>-<images sha[:16]>/
        features.npy   float32 (n, h, w, c), memory-mapped on read
        logits.npy     float32 (n, n_classes)
        index.json     positions in the caller's image list of each row, shapes

An entry is written into a temporary sibling directory and renamed into place,
so an interrupted extraction never leaves a half entry that looks complete.

At ImageNet scale (1.28M images at ResNet50 ``layer4`` are ~522 GB of float32)
the bank is used class by class through :meth:`FeatureBank.stream`, which drops
each class's activations after the caller has used them (see docs/feature-bank.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .classifiers import classifier_meta, eval_transform
from .images import DecodedBatches, images_content_hash
from .progress import Progress, report_count


@dataclass(frozen=True)
class ClassFeatures:
    """One class's cached activations. Arrays are read-only memory maps."""

    class_name: str
    split: str
    features: np.ndarray  # (n, h, w, c)
    logits: np.ndarray  # (n, n_classes)
    paths: tuple[str, ...]  # image paths in row order
    skipped: tuple[str, ...]  # unreadable files left out
    directory: Path

    def __len__(self) -> int:
        return len(self.paths)


def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over the model's parameter and buffer names, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:64] or "_"


class FeatureBank:
    """Cache of activations at ``extractor``'s layer for one classifier.

    Parameters
    ----------
    root : directory of the cache.
    extractor : a :class:`~explainers.ice.features.FeatureExtractor`.
    classifier_hash : content hash of the classifier's weights (e.g. the checkpoint's
        sha256); computed from the model's state dict when not given.
    transform : PIL image -> normalised tensor (3, H, W); by default the classifier's own
        evaluation preprocessing from its ``icelab_meta`` (see ``load_classifier``).
    """

    def __init__(
        self,
        root: str | Path,
        extractor,
        *,
        classifier_hash: str | None = None,
        transform: Callable | None = None,
        batch_size: int = 64,
        workers: int = 2,
    ) -> None:
        self.root = Path(root)
        self.extractor = extractor
        self.classifier_hash = classifier_hash or model_fingerprint(extractor.model)
        self.transform = transform or eval_transform(classifier_meta(extractor.model))
        self.batch_size = batch_size
        self.workers = workers

    def entry_directory(self, split: str, class_name: str, paths: Sequence[str | Path]) -> Path:
        images_hash = images_content_hash(paths)
        layer_dir = (
            self.root / self.classifier_hash[:16] / _slug(self.extractor.layer) / _slug(split)
        )
        return layer_dir / f"{_slug(class_name)}-{images_hash[:16]}"

    def get(
        self,
        split: str,
        class_name: str,
        paths: Sequence[str | Path],
        *,
        progress: Progress | None = None,
    ) -> ClassFeatures:
        """The class's activations, extracted on first use and read from disk afterwards."""
        if not paths:
            raise ValueError(
                f"class {class_name!r} of split {split!r} has no images; add images to its folder or drop the class."
            )
        directory = self.entry_directory(split, class_name, paths)
        entry = self._read(directory, split, class_name, paths)
        if entry is None:
            self._extract_into(directory, split, class_name, [Path(p) for p in paths], progress)
            entry = self._read(directory, split, class_name, paths)
        return entry

    def stream(
        self,
        split: str,
        classes: Iterable[tuple[str, Sequence[str | Path]]],
        *,
        keep: bool = False,
    ) -> Iterator[ClassFeatures]:
        """Yield classes one at a time; with ``keep=False`` each entry is deleted after use.

        For datasets whose activations do not fit on disk: extract, let the caller fit
        and keep what later steps need (reducers, concept scores, logits), then drop.
        """
        for class_name, paths in classes:
            entry = self.get(split, class_name, paths)
            try:
                yield entry
            finally:
                if not keep:
                    shutil.rmtree(entry.directory, ignore_errors=True)

    def _extract_into(
        self,
        directory: Path,
        split: str,
        class_name: str,
        paths: list[Path],
        progress: Progress | None,
    ) -> None:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            rows, kept = self._run_model(paths, progress)
            if not kept:
                raise ValueError(
                    f"none of the {len(paths)} images of class {class_name!r} ({split}) could be read; "
                    f"first one: {paths[0]}. Check the files are valid images."
                )
            features = np.concatenate([f for f, _ in rows])
            logits = np.concatenate([g for _, g in rows])
            np.save(staging / "features.npy", features)
            np.save(staging / "logits.npy", logits)
            index = {
                "class": class_name,
                "split": split,
                "layer": self.extractor.layer,
                "classifier_hash": self.classifier_hash,
                # Positions in the caller's path list, not the paths themselves: the key is
                # the images' names and contents, so a copy of the dataset elsewhere finds
                # this entry and must get its own paths back.
                "rows": kept,
                "paths_when_extracted": [str(paths[i]) for i in kept],
                "features_shape": list(features.shape),
                "logits_shape": list(logits.shape),
            }
            # index.json is written last: its presence marks a complete entry.
            (staging / "index.json").write_text(json.dumps(index, indent=1))
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @torch.no_grad()
    def _run_model(self, paths: list[Path], progress: Progress | None):
        batches = DecodedBatches(
            paths, self.transform, batch_size=self.batch_size, workers=self.workers
        )
        rows, kept, done = [], [], 0
        for indices, batch in batches:
            activations = self.extractor(batch)
            logits = self.extractor.head(activations)
            rows.append(
                (
                    activations.cpu().numpy().astype(np.float32, copy=False),
                    logits.cpu().numpy().astype(np.float32, copy=False),
                )
            )
            kept.extend(int(i) for i in indices)
            done += len(indices)
            report_count(progress, done, len(paths), "images through the model")
        return rows, kept

    def _read(
        self, directory: Path, split: str, class_name: str, paths: Sequence[str | Path]
    ) -> ClassFeatures | None:
        """The entry with the caller's paths, or None when it is missing or from an older format."""
        try:
            index = json.loads((directory / "index.json").read_text())
        except FileNotFoundError:
            return None
        if "rows" not in index:  # written before rows were stored: extract again
            return None
        kept = set(index["rows"])
        return ClassFeatures(
            class_name=class_name,
            split=split,
            features=np.load(directory / "features.npy", mmap_mode="r"),
            logits=np.load(directory / "logits.npy", mmap_mode="r"),
            paths=tuple(str(paths[i]) for i in index["rows"]),
            skipped=tuple(str(path) for i, path in enumerate(paths) if i not in kept),
            directory=directory,
        )
