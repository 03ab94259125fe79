"""Writing the synthetic dataset to disk, and reading it back.

Layout of a dataset directory ``DIR``::

    DIR/metadata.json                      written last: its presence means complete
    DIR/{train,val,test}/<class>/<id>.png  RGB images (torchvision ImageFolder reads DIR/<split>)
    DIR/masks/<split>/<class>/<id>.png     part-label maps: pixel value = part id, 0 = no part

Every image has its own seed, ``SeedSequence(seed, spawn_key=(split, class, index))``
with the class's position in :data:`~.classes.CLASSES`, so the files are byte-identical
for the same arguments whatever the number of workers or the order they finish in, and
asking for more images or more classes keeps the existing ones unchanged.

The dataset is written to a hidden sibling directory and renamed into place at the end,
so an interrupted run never leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..files import atomic_write_text
from ..progress import Progress, report_count
from .classes import DEFAULT_N_CLASSES, ClassDefinition, select_classes
from .loading import GENERATOR_NAME, MASK_DIR, METADATA_FILE, SPLITS, read_metadata
from .parts import PART_IDS, PARTS
from .render import REFERENCE_SIZE, render_image

GENERATOR_VERSION = 1  # bump whenever a change alters any pixel for the same arguments
DEFAULT_PER_CLASS = (350, 50, 100)
SPLIT_SHARES = (0.70, 0.15, 0.15)  # used when per_class is a single total
MIN_SIZE, MAX_SIZE = 64, 512
_PNG_COMPRESS_LEVEL = 1  # zlib level: 1 is ~2x faster than 6 for ~15% larger files
_MIN_TASKS_FOR_POOL = 64


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`make_synthetic_dataset` did.

    Attributes
    ----------
    path : pathlib.Path
        The dataset directory.
    metadata : dict
        The contents of ``metadata.json``.
    reused : bool
        True when an identical complete dataset was already there and nothing was written.
    seconds : float
        Wall-clock time spent.
    workers : int
        Processes used (0 when reused).
    """

    path: Path
    metadata: dict[str, Any]
    reused: bool
    seconds: float
    workers: int

    @property
    def n_images(self) -> int:
        """Number of images over all splits."""
        return sum(self.metadata["splits"].values())


def make_synthetic_dataset(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    per_class: int | Sequence[int] = DEFAULT_PER_CLASS,
    size: int = REFERENCE_SIZE,
    n_classes: int = DEFAULT_N_CLASSES,
    workers: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> GenerationResult:
    """Generate the part-based synthetic dataset into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Dataset directory. If it holds a complete dataset made with the same generator
        version, seed, size, classes and counts, it is reused as is (unless ``force``).
    seed : int
        Non-negative seed from which every image derives.
    per_class : int or (train, val, test)
        Images per class: three counts, each at least 1, or one total of at least 3
        split 70/15/15 (each split gets at least one image).
    size : int
        Image side in pixels, 64 to 512.
    n_classes : int
        How many of the defined classes to use (the first ``n_classes``), at least 2.
    workers : int or None
        Worker processes; ``None`` uses every CPU this process may run on. 1 renders in
        this process (also the case inside a daemonic process such as a Celery worker).
    force : bool
        Replace whatever ``out_dir`` holds.
    progress : callable or None
        ``progress(fraction, step)`` is called as images are written.

    Returns
    -------
    GenerationResult

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, naming the argument.
    FileExistsError
        If ``out_dir`` is a non-empty directory that is not this dataset and ``force`` is False.
    """
    started = time.perf_counter()
    counts = split_counts(per_class)
    classes = select_classes(n_classes)
    _check_int("seed", seed, minimum=0)
    _check_int("size", size, minimum=MIN_SIZE, maximum=MAX_SIZE)
    n_workers = _resolve_workers(workers)
    if len(classes) * sum(counts.values()) < _MIN_TASKS_FOR_POOL:
        n_workers = 1  # starting processes would cost more than drawing a handful of images
    out = Path(out_dir).expanduser().absolute()
    identity = _identity(seed, size, counts, classes)
    if out.exists() and not force:
        existing = _complete_metadata(out)
        if existing is not None and _identity_of(existing) == identity:
            return GenerationResult(
                out, existing, reused=True, seconds=time.perf_counter() - started, workers=0
            )
        if not out.is_dir() or any(out.iterdir()):
            raise FileExistsError(
                f"out_dir={str(out)!r} already exists and is not this dataset (different arguments or incomplete);"
                " choose another directory or pass force=True (--force) to replace it."
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        metadata = _generate(staging, identity, classes, n_workers, progress)
        _move_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return GenerationResult(
        out, metadata, reused=False, seconds=time.perf_counter() - started, workers=n_workers
    )


def split_counts(per_class: int | Sequence[int]) -> dict[str, int]:
    """Return ``{"train": n, "val": n, "test": n}`` images per class from a total or a triple.

    >>> split_counts(20)
    {'train': 14, 'val': 3, 'test': 3}
    """
    if isinstance(per_class, int) and not isinstance(per_class, bool):
        if per_class < len(SPLITS):
            raise ValueError(
                f"per_class={per_class} is too small; give at least {len(SPLITS)} so every split gets an image."
            )
        held_out = [max(1, round(per_class * share)) for share in SPLIT_SHARES[1:]]
        return dict(zip(SPLITS, [per_class - sum(held_out), *held_out], strict=True))
    try:
        values = list(per_class)
    except TypeError:
        raise TypeError(
            f"per_class={per_class!r} must be an int or a (train, val, test) tuple of ints."
        ) from None
    if len(values) != len(SPLITS) or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
    ):
        raise ValueError(
            f"per_class={per_class!r} must be a total >= 3 or a (train, val, test) tuple of three integers >= 1."
        )
    return dict(zip(SPLITS, values, strict=True))


def image_seed(seed: int, split: str, class_index: int, index: int) -> np.random.SeedSequence:
    """Seed of one image: independent of every other image and of how the work is scheduled."""
    return np.random.SeedSequence(seed, spawn_key=(SPLITS.index(split), class_index, index))


def _check_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r} must be an integer.")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ValueError(f"{name}={value} is out of range; use a value {bound}.")


def _resolve_workers(workers: int | None) -> int:
    if workers is not None:
        _check_int("workers", workers, minimum=1)
    # A daemonic process (a Celery prefork worker, a Pool worker) may not start children.
    if multiprocessing.current_process().daemon:
        return 1
    if workers is None:
        available = (
            os.sched_getaffinity(0)
            if hasattr(os, "sched_getaffinity")
            else range(os.cpu_count() or 1)
        )
        return max(1, len(available))
    return workers


def _identity(
    seed: int, size: int, counts: dict[str, int], classes: Sequence[ClassDefinition]
) -> dict[str, Any]:
    """The arguments that determine every byte of the dataset (what reuse compares)."""
    return {
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
        "seed": seed,
        "size": size,
        "per_class": dict(counts),
        "class_parts": {definition.name: list(definition.parts) for definition in classes},
    }


def _identity_of(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        key: metadata.get(key) for key in ("generator", "seed", "size", "per_class", "class_parts")
    }


def _complete_metadata(directory: Path) -> dict[str, Any] | None:
    try:
        return read_metadata(directory)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class _Task:
    split: str
    class_name: str
    class_index: int
    parts: tuple[str, ...]
    index: int


def _tasks(identity: dict[str, Any], classes: Sequence[ClassDefinition]) -> list[_Task]:
    return [
        _Task(split, definition.name, class_index, definition.parts, index)
        for split in SPLITS
        for class_index, definition in enumerate(classes)
        for index in range(identity["per_class"][split])
    ]


def _generate(
    staging: Path,
    identity: dict[str, Any],
    classes: Sequence[ClassDefinition],
    n_workers: int,
    progress: Progress | None,
) -> dict[str, Any]:
    tasks = _tasks(identity, classes)
    for split in SPLITS:
        for definition in classes:
            (staging / split / definition.name).mkdir(parents=True)
            (staging / MASK_DIR / split / definition.name).mkdir(parents=True)
    records: list[dict[str, Any]] = []
    for chunk_records in _run_chunks(staging, tasks, identity, n_workers):
        records.extend(chunk_records)
        report_count(progress, len(records), len(tasks), "images written")
    order = {(t.split, t.class_name, t.index): position for position, t in enumerate(tasks)}
    records.sort(key=lambda record: order[(record["split"], record["class"], record["index"])])
    metadata = _metadata(identity, classes, records)
    _write_json_atomically(staging / METADATA_FILE, metadata)
    return metadata


def _run_chunks(
    staging: Path, tasks: list[_Task], identity: dict[str, Any], n_workers: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield the records of each chunk of tasks as it finishes (in any order)."""
    seed, size = identity["seed"], identity["size"]
    if n_workers == 1:
        for start in range(0, len(tasks), 32):
            yield _render_chunk(str(staging), tasks[start : start + 32], seed, size)
        return
    # Small chunks keep the progress bar moving and the workers balanced; big enough to amortise IPC.
    chunk = max(16, min(200, len(tasks) // (n_workers * 8)))
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=_pool_context()) as pool:
        futures = [
            pool.submit(_render_chunk, str(staging), tasks[start : start + chunk], seed, size)
            for start in range(0, len(tasks), chunk)
        ]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork where the platform has it, else spawn.

    Spawn re-imports the caller's main script in every worker, which breaks any script
    or ``python -c`` without an ``if __name__ == "__main__"`` guard; forked workers need
    no guard and start at once. They run only numpy and Pillow code, never the
    parent's threads or locks (torch, Django), so the usual fork hazards do not apply.
    """
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def _render_chunk(staging: str, tasks: list[_Task], seed: int, size: int) -> list[dict[str, Any]]:
    """Render and write the images of ``tasks``; return their metadata records. Runs in a worker."""
    root = Path(staging)
    records = []
    for task in tasks:
        rendered = render_image(
            task.parts, size=size, seed=image_seed(seed, task.split, task.class_index, task.index)
        )
        name = f"{task.index:05d}.png"
        image_path = f"{task.split}/{task.class_name}/{name}"
        mask_path = f"{MASK_DIR}/{image_path}"
        Image.fromarray(rendered.image).save(
            root / image_path, format="PNG", compress_level=_PNG_COMPRESS_LEVEL
        )
        Image.fromarray(rendered.labels).save(
            root / mask_path, format="PNG", compress_level=_PNG_COMPRESS_LEVEL
        )
        pixels = np.bincount(rendered.labels.ravel(), minlength=len(PARTS) + 1)
        records.append(
            {
                "path": image_path,
                "split": task.split,
                "class": task.class_name,
                "index": task.index,
                "parts": list(rendered.parts),
                "part_pixels": {part: int(pixels[PART_IDS[part]]) for part in rendered.parts},
                "mask": mask_path,
            }
        )
    return records


def _metadata(
    identity: dict[str, Any], classes: Sequence[ClassDefinition], records: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        **identity,
        # ImageFolder numbers classes in sorted folder order; listing them the same way avoids a mismatch.
        "classes": sorted(definition.name for definition in classes),
        "parts": [
            {"name": part.name, "id": PART_IDS[part.name], "description": part.description}
            for part in PARTS
        ],
        "splits": {split: sum(1 for r in records if r["split"] == split) for split in SPLITS},
        "mask_format": "8-bit PNG per image, same size; pixel value = part id (see 'parts'), 0 = no part",
        "images": records,
    }


def _write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    # sort_keys and a fixed layout make the file byte-identical across runs.
    atomic_write_text(path, json.dumps(payload, sort_keys=True, indent=1) + "\n")


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename the finished staging directory to ``out``, replacing what was there."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if out.exists() or out.is_symlink():
        retired = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
        os.rename(out, retired)
        os.rename(staging, out)
        if retired.is_dir() and not retired.is_symlink():
            shutil.rmtree(retired)
        else:
            retired.unlink()
        return
    os.rename(staging, out)
