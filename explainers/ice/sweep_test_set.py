"""The held-out side of a fidelity sweep, built once and shared by every worker.

:class:`SweepTestSet` holds the held-out activations, the model's logits over the
swept classes, the labels, and for each class the rows whose top-k classes or ground
truth include it (the only rows where that class's F̂_g is ever read). ``save``
writes a small ``.npz`` and the activations as an ``.npy`` beside it, both
atomically; ``load`` memory-maps the activations, so a worker reads only the rows
of its own classes. Used by :mod:`explainers.ice.sweep_engine`.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .features import Head, check_activations
from .files import atomic_file

RESULT_FORMAT = 1
ACTIVATIONS_SUFFIX = ".activations.npy"
Activations = torch.Tensor | np.ndarray
# What np.load and the meta's json raise for a file that is truncated or not ours.
UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def check_test_classes(test_features: Mapping, classes: Sequence[int]) -> None:
    """Held-out activations are given, and only for swept classes (each needs its explainer)."""
    if not test_features:
        raise ValueError(
            "test_features is empty; give held-out activations for at least one class."
        )
    missing = sorted(set(int(g) for g in test_features) - set(int(g) for g in classes))
    if missing:
        raise ValueError(
            f"test_features has classes {missing} without training activations; "
            "every test class needs its explainer."
        )


def save_npz(path: str | Path, meta: dict, **arrays: np.ndarray) -> None:
    """Arrays and a JSON ``meta`` in one ``.npz``, written atomically (no pickles)."""
    with atomic_file(path) as stream:
        np.savez(stream, meta=np.array(json.dumps(meta)), **arrays)


class CorruptResultError(ValueError):
    """A result or test-set file that cannot be read whole (truncated, foreign or damaged)."""


@dataclass
class SweepTestSet:
    """Held-out activations, the model's logits over the swept classes, and who needs which F̂_g.

    Attributes
    ----------
    classes : the swept class indices (model outputs), in column order.
    top_k : candidates of the approximate prediction.
    logits : (n, m) float32, the model's logits over ``classes``.
    labels : (n,) int64, the column of each row's ground truth.
    needed : per column j, the rows (sorted) whose top-k columns or ground truth is j.
    parts, offsets : the activations (n, h, w, c) in pieces (tensors, or one
        memory-mapped array after :meth:`load`) and each piece's first row.
    """

    classes: tuple[int, ...]
    top_k: int
    logits: np.ndarray
    labels: np.ndarray
    needed: list[np.ndarray]
    parts: list[Activations]
    offsets: np.ndarray
    _fingerprint: str | None = field(default=None, repr=False)

    @property
    def n_images(self) -> int:
        return int(self.labels.shape[0])

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(h, w, c) of the activations."""
        return tuple(int(x) for x in self.parts[0].shape[1:])

    @property
    def fingerprint(self) -> str:
        """A hash of classes, top_k, logits and labels: results carry it, so a result
        computed against another test set is never combined with this one."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(json.dumps([list(self.classes), self.top_k]).encode())
            digest.update(np.ascontiguousarray(self.logits, dtype=np.float32).tobytes())
            digest.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
            self._fingerprint = digest.hexdigest()[:20]
        return self._fingerprint

    def column(self, class_index: int) -> int:
        """The column of ``class_index`` (a ValueError names the swept classes if absent)."""
        if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
            raise TypeError(f"class_index must be an int, got {type(class_index).__name__}.")
        try:
            return self.classes.index(int(class_index))
        except ValueError:
            shown = list(self.classes[:10]) + (["…"] if len(self.classes) > 10 else [])
            raise ValueError(
                f"class_index={class_index} is not one of this test set's {len(self.classes)} "
                f"swept classes {shown}; build the test set with that class."
            ) from None

    @classmethod
    def build(
        cls,
        head: Head,
        test_features: Mapping[int, Activations],
        classes: Sequence[int],
        *,
        top_k: int = 5,
        batch_size: int = 64,
    ) -> SweepTestSet:
        """From {class index: held-out activations (n, h, w, c)}; ``classes`` are all swept classes.

        Every key of ``test_features`` must be in ``classes``; a swept class may
        have no held-out images (it still competes as a candidate).
        """
        classes = tuple(int(g) for g in classes)
        check_test_classes(test_features, classes)
        parts, labels, logits = [], [], []
        with torch.no_grad():
            for g, activations in test_features.items():
                activations = check_activations(activations)
                if activations.shape[0] == 0:
                    raise ValueError(
                        f"test_features[{g}] is empty; drop the class or give it held-out images."
                    )
                parts.append(activations)
                labels.append(np.full(activations.shape[0], classes.index(int(g))))
                logits.extend(
                    head(batch.to(head.device))[:, list(classes)].float().cpu().numpy()
                    for batch in activations.split(batch_size)
                )
        logits_array = np.concatenate(logits).astype(np.float32)
        labels_array = np.concatenate(labels).astype(np.int64)
        offsets = np.cumsum([0] + [p.shape[0] for p in parts[:-1]])
        return cls(
            classes,
            int(top_k),
            logits_array,
            labels_array,
            _needed_rows(logits_array, labels_array, len(classes), top_k),
            parts,
            offsets,
        )

    def gather(self, rows: np.ndarray) -> torch.Tensor:
        """Activations of the given rows (sorted), shape (len(rows), h, w, c), float32."""
        part_of = np.searchsorted(self.offsets, rows, side="right") - 1
        pieces = []
        for p in np.unique(part_of):
            local = rows[part_of == p] - self.offsets[p]
            part = self.parts[p]
            if isinstance(part, np.ndarray):  # a memory map: read just these rows
                pieces.append(torch.from_numpy(np.ascontiguousarray(part[local], np.float32)))
            else:
                pieces.append(part[torch.from_numpy(local).to(part.device)])
        return torch.cat(pieces)

    # ----------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz: logits, labels, needed rows, settings) and the activations
        beside it (``<path>.activations.npy``), each atomically, the .npz last."""
        path = Path(path)
        h, w, c = self.feature_shape
        with atomic_file(_activations_path(path)) as stream:
            header = {"descr": "<f4", "fortran_order": False, "shape": (self.n_images, h, w, c)}
            np.lib.format.write_array_header_2_0(stream, header)
            for part in self.parts:  # part by part: never a second copy of them all
                array = part.cpu().numpy() if isinstance(part, torch.Tensor) else part
                stream.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
        meta = {
            "format": RESULT_FORMAT,
            "classes": list(self.classes),
            "top_k": self.top_k,
            "fingerprint": self.fingerprint,
            "feature_shape": [h, w, c],
        }
        save_npz(
            path,
            meta,
            logits=self.logits,
            labels=self.labels,
            needed=np.concatenate(self.needed).astype(np.int64),
            needed_counts=np.array([len(rows) for rows in self.needed], dtype=np.int64),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> SweepTestSet:
        """Read a test set written by :meth:`save`; its activations are memory-mapped."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                logits, labels = npz["logits"], npz["labels"]
                needed_flat, counts = npz["needed"], npz["needed_counts"]
            classes, top_k = tuple(int(g) for g in meta["classes"]), int(meta["top_k"])
            expected = (labels.shape[0], *(int(x) for x in meta["feature_shape"]))
            fingerprint = str(meta["fingerprint"])
        except FileNotFoundError:
            raise
        except UNREADABLE as error:
            raise CorruptResultError(
                f"{path} is not a readable sweep test set ({error}); build and save it again."
            ) from error
        activations_path = _activations_path(path)
        if not activations_path.exists():
            raise FileNotFoundError(
                f"{activations_path} is missing; a test set is the .npz and this file together."
            )
        try:
            activations = np.load(activations_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise CorruptResultError(
                f"{activations_path} is not readable ({error}); save the test set again."
            ) from error
        if activations.shape != expected:
            raise CorruptResultError(
                f"{activations_path} has shape {activations.shape}, but {path} expects "
                f"{expected}; the two files come from different saves: save the test set again."
            )
        test_set = cls(
            classes,
            top_k,
            logits,
            labels,
            np.split(needed_flat, np.cumsum(counts)[:-1]),
            [activations],
            np.zeros(1, dtype=np.int64),
        )
        if test_set.fingerprint != fingerprint:
            raise CorruptResultError(f"{path}: its contents do not match its fingerprint.")
        return test_set


def _activations_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".npz") + ACTIVATIONS_SUFFIX)


def _needed_rows(logits: np.ndarray, labels: np.ndarray, m: int, top_k: int) -> list[np.ndarray]:
    # Only F̂_j of an image's top-k classes and of its ground truth is ever read.
    top = np.argsort(-logits, axis=1, kind="stable")[:, : min(top_k, m)]
    mask = np.zeros((logits.shape[0], m), dtype=bool)
    mask[np.arange(logits.shape[0])[:, None], top] = True
    mask[np.arange(logits.shape[0]), labels] = True
    return [np.flatnonzero(mask[:, j]) for j in range(m)]
