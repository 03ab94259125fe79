"""Training and fine-tuning classifiers on ImageFolder datasets, resumable and seeded.

``train_classifier`` trains any architecture :func:`~explainers.ice.classifiers.load_classifier`
knows, from scratch or from given weights, on ``DIR/train/<class>/*`` and reports its
accuracy on ``DIR/test`` (or ``DIR/val``, or 10% of ``train`` held out by path hash when
neither exists). After every epoch the checkpoint at ``out`` is rewritten atomically;
running again with the same arguments continues after the last finished epoch, and once
training is complete it returns the stored result without training. docs/classifiers.md
explains the choices.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from tqdm import tqdm

from .classifiers import (
    DEFAULT_ARCH,
    check_arch,
    classifier_meta,
    eval_transform,
    load_classifier,
    read_checkpoint,
    save_checkpoint,
)
from .devices import resolve_device

# The default architecture reaches >= 95% test accuracy on the synthetic set in 8 epochs.
DEFAULT_EPOCHS = {"default_arch": 8, "pretrained": 15, "scratch": 30}
DEFAULT_LR = {"pretrained": 0.01, "scratch": 0.1}
DEFAULT_BATCH_SIZE = 64
JITTER = 0.1  # brightness, contrast and saturation vary by up to +-10%
HOLDOUT_FRACTION = 0.1
IN_MEMORY_MAX_BYTES = 1 << 30  # decoded training images up to this size are kept in memory
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass(frozen=True)
class TrainProgress:
    """One training step, passed to the ``progress`` callback of :func:`train_classifier`."""

    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based, within the epoch
    steps: int
    loss: float  # running mean over the epoch so far
    accuracy: float  # running training accuracy over the epoch so far

    @property
    def fraction(self) -> float:
        """Share of the whole run done, in [0, 1]."""
        return ((self.epoch - 1) * self.steps + self.step) / (self.epochs * self.steps)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_classifier` produced; ``checkpoint`` loads with ``load_classifier``."""

    test_accuracy: float
    checkpoint: Path
    seconds: float  # wall time of all the calls that built the checkpoint (scan, training, evaluation)
    epochs: int
    arch: str
    class_names: list[str]
    test_split: str  # "test", "val" or "train-holdout"
    n_train: int
    n_test: int
    device: str
    resumed_from: int = 0  # epochs already done when this call started
    skipped: list[str] = field(default_factory=list)  # unreadable images, "path: reason"
    val_accuracy: float | None = None  # on DIR/val when it exists besides DIR/test
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: loss, accuracy, lr, seconds


# --- the data -----------------------------------------------------------------------------


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
        raise ValueError(f"{split_dir} needs at least 2 class folders (DIR/train/<class>/<image>), found {names}.")
    known = list(class_names) if class_names is not None else names
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"{split_dir} has class folders {unknown} that train/ lacks; the splits must share classes.")
    split = ScannedSplit(split_dir, known, [])
    for folder in folders:
        _scan_class(split, folder, known.index(folder.name))
    return split


def _scan_class(split: ScannedSplit, folder: Path, label: int) -> None:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
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
        image.draft("RGB", (64, 64))  # JPEGs decode at reduced scale: fast, and still detects corruption
        image.load()
    return size


def split_holdout(train: ScannedSplit, fraction: float = HOLDOUT_FRACTION) -> tuple[ScannedSplit, ScannedSplit]:
    """Split ``train`` into (kept, held out), holding out ``fraction`` of each class (at least 1 of 2+).

    Images are ranked by the sha256 of their path relative to the split folder, so the
    choice depends on neither the seed nor the machine, and adding images moves few others.
    """
    def rank(sample: tuple[str, int]) -> str:
        return hashlib.sha256(Path(sample[0]).relative_to(train.root).as_posix().encode()).hexdigest()

    held: set[str] = set()
    for label in range(len(train.class_names)):
        ranked = sorted((s for s in train.samples if s[1] == label), key=rank)
        count = max(1, round(fraction * len(ranked))) if len(ranked) >= 2 else 0
        held.update(path for path, _ in ranked[:count])
    keep = [i for i, (path, _) in enumerate(train.samples) if path not in held]
    kept = ScannedSplit(train.root, train.class_names, [train.samples[i] for i in keep], train.skipped,
                        [train.sizes[i] for i in keep])
    return kept, ScannedSplit(train.root, train.class_names, [s for s in train.samples if s[0] in held])


class ImageFiles(Dataset):
    """(path, label) samples -> (transformed RGB image, label)."""

    def __init__(self, samples: Sequence[tuple[str, int]], transform: Callable[[Image.Image], torch.Tensor]) -> None:
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
            raise RuntimeError(f"{path} could no longer be read ({error}); restore it and re-run to resume.") from error


def decode_all(split: ScannedSplit) -> torch.Tensor:
    """Every image of ``split`` (all one size) as one ``(n, 3, h, w)`` uint8 tensor."""
    width, height = split.sizes[0]
    pixels = torch.empty((len(split), 3, height, width), dtype=torch.uint8)
    for index, (path, _) in enumerate(split.samples):
        with Image.open(path) as image:
            pixels[index] = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    return pixels


# --- augmentation -------------------------------------------------------------------------


def _crop_range(size: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(area, aspect ratio) ranges of random crops: gentle for small inputs, whose drawn parts
    must not be cut off; the usual strong crops for ImageNet-sized ones."""
    return ((0.75, 1.0), (0.9, 1.1)) if size <= 128 else ((0.25, 1.0), (3 / 4, 4 / 3))


def train_transform(meta: dict[str, Any]) -> transforms.Compose:
    """PIL augmentation of streamed training images: random resized crop, flip, mild colour jitter."""
    size = int(meta["input_size"])
    scale, ratio = _crop_range(size)
    return transforms.Compose([
        transforms.RandomResizedCrop(size, scale=scale, ratio=ratio),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(brightness=JITTER, contrast=JITTER, saturation=JITTER),
        transforms.ToTensor(),
        transforms.Normalize(list(meta["mean"]), list(meta["std"])),
    ])


def augment_batch(images: torch.Tensor, meta: dict[str, Any], generator: torch.Generator) -> torch.Tensor:
    """The augmentation of :func:`train_transform`, on a whole batch of tensors at once.

    Parameters
    ----------
    images : torch.Tensor
        ``(n, 3, h, w)`` uint8 images, on any device.
    meta : dict
        Classifier metadata: ``input_size``, ``mean``, ``std``.
    generator : torch.Generator
        CPU generator for every random draw.

    Returns
    -------
    torch.Tensor
        ``(n, 3, s, s)`` float32, normalised, with ``s = meta["input_size"]``.
    """
    n, size, device = images.shape[0], int(meta["input_size"]), images.device
    (low, high), (ratio_low, ratio_high) = _crop_range(size)
    draws = torch.rand(n, 8, generator=generator).to(device)
    area = low + (high - low) * draws[:, 0]
    ratio = torch.exp(math.log(ratio_low) + math.log(ratio_high / ratio_low) * draws[:, 1])
    width, height = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    flip = torch.where(draws[:, 2] < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)  # maps output to input coordinates, both in [-1, 1]
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, (1 - width) * (2 * draws[:, 3] - 1)
    theta[:, 1, 1], theta[:, 1, 2] = height, (1 - height) * (2 * draws[:, 4] - 1)
    grid = nn.functional.affine_grid(theta, [n, 3, size, size], align_corners=False)
    x = nn.functional.grid_sample(images.float() / 255, grid, mode="bilinear", padding_mode="border",
                                  align_corners=False)
    x = _jitter(x, 1 + JITTER * (2 * draws[:, 5:8] - 1))
    mean, std = (torch.tensor(meta[k], device=device, dtype=torch.float32).view(1, 3, 1, 1) for k in ("mean", "std"))
    return (x - mean) / std


def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """ColorJitter's brightness, contrast then saturation blends, fused into one affine map per image.

    ``x`` is ``(n, 3, h, w)`` in [0, 1], ``factors`` ``(n, 3)``. With brightness b, contrast c,
    saturation s, grey level g(x) and its image mean m, torchvision computes ``x1 = b x``,
    ``x2 = c x1 + (1 - c) b m``, ``x3 = s x2 + (1 - s) g(x2)``, that is
    ``b c s x + b c (1 - s) g(x) + (1 - c) b m``. It clamps to [0, 1] only at the end, which
    differs from torchvision only for pixels pushed past 0 or 1 at a middle step.
    """
    brightness, contrast, saturation = (factors[:, k].view(-1, 1, 1, 1) for k in range(3))
    grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    scale = brightness * contrast
    offset = (1 - contrast) * brightness * grey.mean((2, 3), keepdim=True)
    return torch.addcmul(offset + scale * (1 - saturation) * grey, x, scale * saturation).clamp_(0, 1)


# --- training -----------------------------------------------------------------------------


def train_classifier(
    data_dir: str | os.PathLike,
    *,
    out: str | os.PathLike,
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    epochs: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float | None = None,
    seed: int = 0,
    input_size: int | None = None,
    workers: int | None = None,
    resume: bool = True,
    progress: Callable[[TrainProgress], None] | bool | None = None,
    device: str | torch.device = "auto",
    in_memory: bool | None = None,
) -> TrainResult:
    """Train (or fine-tune) a classifier on an ImageFolder dataset and save a checkpoint.

    Parameters
    ----------
    data_dir : path-like
        ``DIR/train/<class>/<image>``, optionally ``DIR/val`` and ``DIR/test`` with the same classes.
    out : path-like
        Checkpoint file (rewritten atomically after every epoch).
    arch : str, optional
        Architecture name; ``"icelab_resnet"`` (the synthetic dataset's default) if None.
    weights : str or path-like, optional
        Starting weights as for ``load_classifier`` (torchvision name or local checkpoint);
        the final layer is replaced to fit the dataset's classes.
    epochs, lr : optional
        Defaults: 8 epochs for ``icelab_resnet``, 15 when fine-tuning ``weights``, 30 for
        other architectures from scratch; peak lr 0.01 when fine-tuning, else 0.1 (SGD with
        Nesterov momentum, one-cycle schedule).
    batch_size : int
        Images per step.
    seed : int
        Seeds initialisation, shuffling and augmentation.
    input_size : int, optional
        Square input side; the most common image side in ``train`` for ``icelab_resnet``,
        else what ``weights`` (or the architecture's default weights) expect.
    workers : int, optional
        DataLoader worker processes for streamed images and evaluation; ``min(2, CPUs)`` if None.
    resume : bool
        Continue from ``out`` when it holds an unfinished run with the same settings (and
        return it unchanged when finished); False starts over.
    progress : callable, bool or None
        None or True: a tqdm bar on stderr; False: silent; a callable: called with a
        :class:`TrainProgress` after every step instead of the bar.
    device : str or torch.device
        ``"auto"`` picks CUDA when available.
    in_memory : bool, optional
        Decode the training images once, keep them on ``device`` and augment whole batches
        as tensors (:func:`augment_batch`) instead of streaming files through PIL in
        DataLoader workers: decoding and PIL augmentation of small images cost as much CPU
        as a small model. None: when all training images have one size and take at most
        1 GiB. The two draw different crops, so this is a setting a resume must match.

    Returns
    -------
    TrainResult
    """
    started = time.perf_counter()
    settings = _settings(Path(data_dir), arch, weights, epochs, batch_size, lr, seed, input_size, in_memory)
    checkpoint = _resumable_checkpoint(Path(out), settings, resume)
    if checkpoint is not None and checkpoint["training"]["complete"]:
        return _result(Path(out), checkpoint, resumed_from=checkpoint["epochs"])
    run = _prepare_run(Path(data_dir), Path(out), settings, workers, device)
    with torch.random.fork_rng(devices=_cuda_indices(run.device)):  # leave the caller's RNG state alone
        return _train(run, checkpoint, progress, started)


@dataclass
class _Run:
    """Everything fixed before training starts."""

    out: Path
    settings: dict[str, Any]  # what must match for a checkpoint to be resumed
    train: ScannedSplit
    test: ScannedSplit
    val: ScannedSplit | None
    device: torch.device
    workers: int
    input_size: int | None  # None: what the weights expect
    pixels: torch.Tensor | None  # (n, 3, h, w) uint8 training images on device, when in memory


def _settings(data_dir: Path, arch, weights, epochs, batch_size, lr, seed, input_size, in_memory) -> dict[str, Any]:
    """The arguments that define a run, validated; a checkpoint resumes only if they match."""
    arch = check_arch(arch or DEFAULT_ARCH)
    if not (data_dir / "train").is_dir():
        raise ValueError(f"{data_dir} has no train/ folder; lay the data out as DIR/train/<class>/<image>.")
    kind = "default_arch" if arch == DEFAULT_ARCH else ("pretrained" if weights is not None else "scratch")
    lr = float(lr if lr is not None else DEFAULT_LR["pretrained" if weights is not None else "scratch"])
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}.")
    return {
        "arch": arch, "weights": None if weights is None else str(weights),
        "epochs": _positive_int(DEFAULT_EPOCHS[kind] if epochs is None else epochs, "epochs"),
        "batch_size": _positive_int(batch_size, "batch_size"), "lr": lr, "seed": int(seed),
        "input_size": None if input_size is None else _positive_int(input_size, "input_size"),
        "in_memory": None if in_memory is None else bool(in_memory),
        "test_split": next((name for name in ("test", "val") if (data_dir / name).is_dir()), "train-holdout"),
        "data_hash": dataset_content_hash(data_dir),
    }


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _resumable_checkpoint(out: Path, settings: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    if not resume or not out.exists():
        return None
    checkpoint = read_checkpoint(out)
    if checkpoint["arch"] != settings["arch"]:
        raise ValueError(
            f"{out} holds a checkpoint for architecture {checkpoint['arch']!r}, not arch={settings['arch']!r}. "
            "Use another out path, or resume=False (--no-resume) to overwrite it."
        )
    stored = (checkpoint.get("training") or {}).get("settings", {})
    differences = "; ".join(
        f"{key}: checkpoint {stored.get(key)!r}, now {value!r}"
        for key, value in settings.items() if stored.get(key) != value
    )
    if differences:
        raise ValueError(
            f"{out} was trained with other settings ({differences}). Re-run with the same settings to resume, "
            "use another out path, or resume=False (--no-resume) to start over."
        )
    return checkpoint


def _prepare_run(data_dir: Path, out: Path, settings: dict[str, Any], workers: int | None, device: Any) -> _Run:
    workers = min(2, os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}.")
    device = resolve_device(device)
    train, test, val = _splits(data_dir, scan_split(data_dir / "train"), settings["test_split"])
    input_size = settings["input_size"]
    if input_size is None and settings["arch"] == DEFAULT_ARCH:
        input_size = Counter(min(size) for size in train.sizes).most_common(1)[0][0]
    fits = len(set(train.sizes)) == 1 and 3 * len(train) * math.prod(train.sizes[0]) <= IN_MEMORY_MAX_BYTES
    if settings["in_memory"] and not fits:
        raise ValueError("in_memory=True needs training images of one size, at most 1 GiB decoded; pass None.")
    in_memory = fits if settings["in_memory"] is None else settings["in_memory"]
    pixels = decode_all(train).to(device) if in_memory else None
    return _Run(out, settings, train, test, val, device, workers, input_size, pixels)


def _splits(
    data_dir: Path, train: ScannedSplit, test_split: str
) -> tuple[ScannedSplit, ScannedSplit, ScannedSplit | None]:
    """(train, test, val or None). Without test/ or val/, part of train is held out for testing."""
    if test_split == "train-holdout":
        return (*split_holdout(train), None)
    with_val = test_split == "test" and (data_dir / "val").is_dir()
    val = scan_split(data_dir / "val", train.class_names) if with_val else None
    test = scan_split(data_dir / test_split, train.class_names)
    for split in (test, val):
        if split is not None and not len(split):
            raise ValueError(f"{split.root} has no class folders with images; fill it or remove it.")
    return train, test, val


def _cuda_indices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def _train(run: _Run, checkpoint: dict[str, Any] | None, progress: Any, started: float) -> TrainResult:
    settings = run.settings
    torch.manual_seed(settings["seed"])
    model = _initial_model(run, checkpoint)
    meta = classifier_meta(model)
    model.train().to(memory_format=torch.channels_last)  # 1.2-1.7x faster convolutions on the CPU
    steps = math.ceil(len(run.train) / settings["batch_size"])
    optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings["lr"], total_steps=settings["epochs"] * steps)
    start, seconds, history = 0, 0.0, []
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer_state"])
        scheduler.load_state_dict(checkpoint["scheduler_state"])
        start, seconds = checkpoint["epochs"], checkpoint["training"]["seconds"]
        history = checkpoint["training"]["history"]
    with _Reporter(progress, settings["epochs"], steps, start) as reporter:
        for epoch in range(start, settings["epochs"]):
            loss, accuracy = _train_epoch(run, model, optimizer, scheduler, meta, epoch, reporter)
            elapsed = seconds + time.perf_counter() - started
            history = [*history, {"epoch": epoch + 1, "loss": loss, "accuracy": accuracy,
                                  "lr": scheduler.get_last_lr()[0], "seconds": elapsed}]
            _save(run, model, meta, epochs=epoch + 1, seconds=elapsed, history=history, optimizer=optimizer,
                  scheduler=scheduler)
    splits = {"test": run.test, "val": run.val}
    scores = {name: evaluate(model, split, meta, batch_size=settings["batch_size"], workers=run.workers,
                             device=run.device) for name, split in splits.items() if split is not None}
    final = _save(run, model, meta, epochs=settings["epochs"], seconds=seconds + time.perf_counter() - started,
                  history=history, test_accuracy=scores["test"], val_accuracy=scores.get("val"))
    return _result(run.out, final, resumed_from=start)


def _initial_model(run: _Run, checkpoint: dict[str, Any] | None) -> nn.Module:
    settings = run.settings
    if checkpoint is not None:
        model = load_classifier(settings["arch"], run.out, map_location=run.device)
    else:
        model = load_classifier(settings["arch"], settings["weights"], num_classes=len(run.train.class_names),
                                map_location=run.device)
    meta = classifier_meta(model)
    meta["class_names"] = list(run.train.class_names)
    if run.input_size is not None and run.input_size != meta["input_size"]:
        # keep the usual resize/crop ratio (256/224 for ImageNet models) at the new size
        ratio = meta["resize_size"] / meta["input_size"]
        meta["input_size"], meta["resize_size"] = run.input_size, round(run.input_size * ratio)
    return model


def _train_epoch(run: _Run, model, optimizer, scheduler, meta, epoch: int, reporter: _Reporter) -> tuple[float, float]:
    # Seeding per epoch makes a resumed run shuffle and augment exactly as an uninterrupted one.
    epoch_seed = run.settings["seed"] * 100_003 + epoch
    torch.manual_seed(epoch_seed)
    total_loss, correct, seen = 0.0, 0, 0
    for step, (images, labels) in enumerate(_batches(run, meta, epoch_seed), start=1):
        images = images.to(run.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        labels = labels.to(run.device, non_blocking=True)
        logits, loss = _loss(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(labels)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(labels)
        reporter.step(epoch + 1, step, total_loss / seen, correct / seen)
    return total_loss / seen, correct / seen


def _batches(run: _Run, meta: dict[str, Any], seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled, augmented training batches: from memory, or streamed from disk."""
    batch_size = run.settings["batch_size"]
    if run.pixels is None:
        yield from _loader(run.train, train_transform(meta), batch_size=batch_size, workers=run.workers,
                           device=run.device, shuffle_seed=seed)
        return
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor([label for _, label in run.train.samples])
    order = torch.randperm(len(labels), generator=generator)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield augment_batch(run.pixels[index.to(run.pixels.device)], meta, generator), labels[index]


def _loader(split: ScannedSplit, transform: Any, *, batch_size: int, workers: int, device: torch.device,
            shuffle_seed: int | None = None) -> DataLoader:
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    return DataLoader(
        ImageFiles(split.samples, transform), batch_size=batch_size, shuffle=shuffle_seed is not None,
        generator=generator, num_workers=workers, pin_memory=device.type == "cuda",
    )


def _loss(output: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, cross-entropy); GoogLeNet/Inception's auxiliary outputs count 0.4 each, as in their papers."""
    if not hasattr(output, "logits"):
        return output, nn.functional.cross_entropy(output, labels)
    loss = nn.functional.cross_entropy(output.logits, labels)
    for name in ("aux_logits", "aux_logits1", "aux_logits2"):
        if getattr(output, name, None) is not None:
            loss = loss + 0.4 * nn.functional.cross_entropy(getattr(output, name), labels)
    return output.logits, loss


@torch.no_grad()
def evaluate(model: nn.Module, split: ScannedSplit, meta: dict[str, Any], *, batch_size: int = 64,
             workers: int = 0, device: torch.device | str = "cpu") -> float:
    """Top-1 accuracy of ``model`` on ``split``, preprocessed by ``eval_transform(meta)``."""
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    correct = 0
    for images, labels in _loader(split, eval_transform(meta), batch_size=batch_size, workers=workers, device=device):
        images = images.to(device).contiguous(memory_format=torch.channels_last)
        correct += int((model(images).argmax(1) == labels.to(device)).sum())
    model.train(was_training)
    return correct / len(split)


def _save(run: _Run, model: nn.Module, meta: dict[str, Any], *, epochs: int, seconds: float, history: list,
          optimizer=None, scheduler=None, test_accuracy: float | None = None,
          val_accuracy: float | None = None) -> dict[str, Any]:
    complete = test_accuracy is not None
    skipped = run.train.skipped + run.test.skipped + (run.val.skipped if run.val else [])
    training = {
        "settings": run.settings, "complete": complete, "seconds": seconds, "history": history,
        "val_accuracy": val_accuracy, "test_split": run.settings["test_split"], "in_memory": run.pixels is not None,
        "n_train": len(run.train), "n_test": len(run.test), "skipped": skipped, "device": str(run.device),
    }
    fields = {
        "seed": run.settings["seed"], "data_hash": run.settings["data_hash"], "test_accuracy": test_accuracy,
        "epochs": epochs, "training": training,
        # only needed to resume, and as large as the model: dropped once training is complete
        "optimizer_state": None if complete else optimizer.state_dict(),
        "scheduler_state": None if complete else scheduler.state_dict(),
    }
    save_checkpoint(run.out, model, meta=meta, **fields)
    return {**fields, "class_names": meta["class_names"], "arch": meta["arch"]}


def _result(out: Path, checkpoint: dict[str, Any], *, resumed_from: int) -> TrainResult:
    training = checkpoint["training"]
    return TrainResult(
        test_accuracy=checkpoint["test_accuracy"], checkpoint=out, seconds=training["seconds"],
        epochs=checkpoint["epochs"], arch=checkpoint["arch"], class_names=list(checkpoint["class_names"]),
        test_split=training["test_split"], n_train=training["n_train"], n_test=training["n_test"],
        device=training["device"], resumed_from=resumed_from, skipped=list(training["skipped"]),
        val_accuracy=training["val_accuracy"], history=list(training["history"]),
    )


class _Reporter:
    """Sends step progress to a tqdm bar on stderr, or to the caller's callback instead."""

    def __init__(self, progress: Any, epochs: int, steps: int, start: int) -> None:
        self.callback = progress if callable(progress) else None
        self.epochs, self.steps = epochs, steps
        show_bar = self.callback is None and progress is not False
        self.bar = tqdm(total=epochs * steps, initial=start * steps, file=sys.stderr, unit="step",
                        desc="training", dynamic_ncols=True) if show_bar else None

    def __enter__(self) -> _Reporter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.bar is not None:
            self.bar.close()

    def step(self, epoch: int, step: int, loss: float, accuracy: float) -> None:
        if self.callback is not None:
            self.callback(TrainProgress(epoch, self.epochs, step, self.steps, loss, accuracy))
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(epoch=f"{epoch}/{self.epochs}", loss=f"{loss:.3f}", acc=f"{accuracy:.3f}",
                                 refresh=False)
