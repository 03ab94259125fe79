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

import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from .augmentation import augment_batch, train_transform
from .checkpoints import read_checkpoint
from .classifiers import (
    DEFAULT_ARCH,
    check_arch,
    classifier_meta,
    eval_transform,
    load_classifier,
    save_checkpoint,
)
from .devices import resolve_device
from .image_folders import (
    ImageFiles,
    ScannedSplit,
    dataset_content_hash,
    decode_all,
    scan_split,
    split_holdout,
)
from .progress import Progress, report

# The default architecture reaches >= 95% test accuracy on the synthetic set in 8 epochs.
DEFAULT_EPOCHS = {"default_arch": 8, "pretrained": 15, "scratch": 30}
DEFAULT_LR = {"pretrained": 0.01, "scratch": 0.1}
DEFAULT_BATCH_SIZE = 64
IN_MEMORY_MAX_BYTES = 1 << 30  # decoded training images up to this size are kept in memory


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_classifier` produced; ``checkpoint`` loads with ``load_classifier``."""

    test_accuracy: float
    checkpoint: Path
    seconds: (
        float  # wall time of all the calls that built the checkpoint (scan, training, evaluation)
    )
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
    history: list[dict[str, float]] = field(
        default_factory=list
    )  # per epoch: loss, accuracy, lr, seconds


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
    progress: Progress | bool | None = None,
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
        None or True: a tqdm bar on stderr; False: silent; a callable: called as
        ``progress(fraction, step)`` after every step instead of the bar (the step text
        gives the epoch, the running loss and the training accuracy).
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
    settings = _settings(
        Path(data_dir), arch, weights, epochs, batch_size, lr, seed, input_size, in_memory
    )
    checkpoint = _resumable_checkpoint(Path(out), settings, resume)
    if checkpoint is not None and checkpoint["training"]["complete"]:
        return _result(Path(out), checkpoint, resumed_from=checkpoint["epochs"])
    run = _prepare_run(Path(data_dir), Path(out), settings, workers, device)
    with torch.random.fork_rng(
        devices=_cuda_indices(run.device)
    ):  # leave the caller's RNG state alone
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


def _settings(
    data_dir: Path, arch, weights, epochs, batch_size, lr, seed, input_size, in_memory
) -> dict[str, Any]:
    """The arguments that define a run, validated; a checkpoint resumes only if they match."""
    arch = check_arch(arch or DEFAULT_ARCH)
    if not (data_dir / "train").is_dir():
        raise ValueError(
            f"{data_dir} has no train/ folder; lay the data out as DIR/train/<class>/<image>."
        )
    kind = (
        "default_arch"
        if arch == DEFAULT_ARCH
        else ("pretrained" if weights is not None else "scratch")
    )
    lr = float(
        lr if lr is not None else DEFAULT_LR["pretrained" if weights is not None else "scratch"]
    )
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}.")
    return {
        "arch": arch,
        "weights": None if weights is None else str(weights),
        "epochs": _positive_int(DEFAULT_EPOCHS[kind] if epochs is None else epochs, "epochs"),
        "batch_size": _positive_int(batch_size, "batch_size"),
        "lr": lr,
        "seed": int(seed),
        "input_size": None if input_size is None else _positive_int(input_size, "input_size"),
        "in_memory": None if in_memory is None else bool(in_memory),
        "test_split": next(
            (name for name in ("test", "val") if (data_dir / name).is_dir()), "train-holdout"
        ),
        "data_hash": dataset_content_hash(data_dir),
    }


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _resumable_checkpoint(
    out: Path, settings: dict[str, Any], resume: bool
) -> dict[str, Any] | None:
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
        for key, value in settings.items()
        if stored.get(key) != value
    )
    if differences:
        raise ValueError(
            f"{out} was trained with other settings ({differences}). Re-run with the same settings to resume, "
            "use another out path, or resume=False (--no-resume) to start over."
        )
    return checkpoint


def _prepare_run(
    data_dir: Path, out: Path, settings: dict[str, Any], workers: int | None, device: Any
) -> _Run:
    workers = min(2, os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}.")
    device = resolve_device(device)
    train, test, val = _splits(data_dir, scan_split(data_dir / "train"), settings["test_split"])
    input_size = settings["input_size"]
    if input_size is None and settings["arch"] == DEFAULT_ARCH:
        input_size = Counter(min(size) for size in train.sizes).most_common(1)[0][0]
    fits = (
        len(set(train.sizes)) == 1
        and 3 * len(train) * math.prod(train.sizes[0]) <= IN_MEMORY_MAX_BYTES
    )
    if settings["in_memory"] and not fits:
        raise ValueError(
            "in_memory=True needs training images of one size, at most 1 GiB decoded; pass None."
        )
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
            raise ValueError(
                f"{split.root} has no class folders with images; fill it or remove it."
            )
    return train, test, val


def _cuda_indices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def _train(
    run: _Run, checkpoint: dict[str, Any] | None, progress: Any, started: float
) -> TrainResult:
    settings = run.settings
    torch.manual_seed(settings["seed"])
    model = _initial_model(run, checkpoint)
    meta = classifier_meta(model)
    model.train().to(memory_format=torch.channels_last)  # 1.2-1.7x faster convolutions on the CPU
    steps = math.ceil(len(run.train) / settings["batch_size"])
    optimizer = torch.optim.SGD(
        model.parameters(), lr=settings["lr"], momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, settings["lr"], total_steps=settings["epochs"] * steps
    )
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
            history = [
                *history,
                {
                    "epoch": epoch + 1,
                    "loss": loss,
                    "accuracy": accuracy,
                    "lr": scheduler.get_last_lr()[0],
                    "seconds": elapsed,
                },
            ]
            _save(
                run,
                model,
                meta,
                epochs=epoch + 1,
                seconds=elapsed,
                history=history,
                optimizer=optimizer,
                scheduler=scheduler,
            )
    splits = {"test": run.test, "val": run.val}
    scores = {
        name: evaluate(
            model,
            split,
            meta,
            batch_size=settings["batch_size"],
            workers=run.workers,
            device=run.device,
        )
        for name, split in splits.items()
        if split is not None
    }
    final = _save(
        run,
        model,
        meta,
        epochs=settings["epochs"],
        seconds=seconds + time.perf_counter() - started,
        history=history,
        test_accuracy=scores["test"],
        val_accuracy=scores.get("val"),
    )
    return _result(run.out, final, resumed_from=start)


def _initial_model(run: _Run, checkpoint: dict[str, Any] | None) -> nn.Module:
    settings = run.settings
    if checkpoint is not None:
        model = load_classifier(settings["arch"], run.out, map_location=run.device)
    else:
        model = load_classifier(
            settings["arch"],
            settings["weights"],
            num_classes=len(run.train.class_names),
            map_location=run.device,
        )
    meta = classifier_meta(model)
    meta["class_names"] = list(run.train.class_names)
    if run.input_size is not None and run.input_size != meta["input_size"]:
        # keep the usual resize/crop ratio (256/224 for ImageNet models) at the new size
        ratio = meta["resize_size"] / meta["input_size"]
        meta["input_size"], meta["resize_size"] = run.input_size, round(run.input_size * ratio)
    return model


def _train_epoch(
    run: _Run, model, optimizer, scheduler, meta, epoch: int, reporter: _Reporter
) -> tuple[float, float]:
    # Seeding per epoch makes a resumed run shuffle and augment exactly as an uninterrupted one.
    epoch_seed = run.settings["seed"] * 100_003 + epoch
    torch.manual_seed(epoch_seed)
    total_loss, correct, seen = 0.0, 0, 0
    for step, (images, labels) in enumerate(_batches(run, meta, epoch_seed), start=1):
        images = images.to(run.device, non_blocking=True).contiguous(
            memory_format=torch.channels_last
        )
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


def _batches(
    run: _Run, meta: dict[str, Any], seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled, augmented training batches: from memory, or streamed from disk."""
    batch_size = run.settings["batch_size"]
    if run.pixels is None:
        yield from _loader(
            run.train,
            train_transform(meta),
            batch_size=batch_size,
            workers=run.workers,
            device=run.device,
            shuffle_seed=seed,
        )
        return
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor([label for _, label in run.train.samples])
    order = torch.randperm(len(labels), generator=generator)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        yield augment_batch(run.pixels[index.to(run.pixels.device)], meta, generator), labels[index]


def _loader(
    split: ScannedSplit,
    transform: Any,
    *,
    batch_size: int,
    workers: int,
    device: torch.device,
    shuffle_seed: int | None = None,
) -> DataLoader:
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    return DataLoader(
        ImageFiles(split.samples, transform),
        batch_size=batch_size,
        shuffle=shuffle_seed is not None,
        generator=generator,
        num_workers=workers,
        pin_memory=device.type == "cuda",
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
def evaluate(
    model: nn.Module,
    split: ScannedSplit,
    meta: dict[str, Any],
    *,
    batch_size: int = 64,
    workers: int = 0,
    device: torch.device | str = "cpu",
) -> float:
    """Top-1 accuracy of ``model`` on ``split``, preprocessed by ``eval_transform(meta)``."""
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    correct = 0
    for images, labels in _loader(
        split, eval_transform(meta), batch_size=batch_size, workers=workers, device=device
    ):
        images = images.to(device).contiguous(memory_format=torch.channels_last)
        correct += int((model(images).argmax(1) == labels.to(device)).sum())
    model.train(was_training)
    return correct / len(split)


def _save(
    run: _Run,
    model: nn.Module,
    meta: dict[str, Any],
    *,
    epochs: int,
    seconds: float,
    history: list,
    optimizer=None,
    scheduler=None,
    test_accuracy: float | None = None,
    val_accuracy: float | None = None,
) -> dict[str, Any]:
    complete = test_accuracy is not None
    skipped = run.train.skipped + run.test.skipped + (run.val.skipped if run.val else [])
    training = {
        "settings": run.settings,
        "complete": complete,
        "seconds": seconds,
        "history": history,
        "val_accuracy": val_accuracy,
        "test_split": run.settings["test_split"],
        "in_memory": run.pixels is not None,
        "n_train": len(run.train),
        "n_test": len(run.test),
        "skipped": skipped,
        "device": str(run.device),
    }
    fields = {
        "seed": run.settings["seed"],
        "data_hash": run.settings["data_hash"],
        "test_accuracy": test_accuracy,
        "epochs": epochs,
        "training": training,
        # only needed to resume, and as large as the model: dropped once training is complete
        "optimizer_state": None if complete else optimizer.state_dict(),
        "scheduler_state": None if complete else scheduler.state_dict(),
    }
    save_checkpoint(run.out, model, meta=meta, **fields)
    return {**fields, "class_names": meta["class_names"], "arch": meta["arch"]}


def _result(out: Path, checkpoint: dict[str, Any], *, resumed_from: int) -> TrainResult:
    training = checkpoint["training"]
    return TrainResult(
        test_accuracy=checkpoint["test_accuracy"],
        checkpoint=out,
        seconds=training["seconds"],
        epochs=checkpoint["epochs"],
        arch=checkpoint["arch"],
        class_names=list(checkpoint["class_names"]),
        test_split=training["test_split"],
        n_train=training["n_train"],
        n_test=training["n_test"],
        device=training["device"],
        resumed_from=resumed_from,
        skipped=list(training["skipped"]),
        val_accuracy=training["val_accuracy"],
        history=list(training["history"]),
    )


class _Reporter:
    """Sends step progress to a tqdm bar on stderr, or to the caller's callback instead."""

    def __init__(self, progress: Any, epochs: int, steps: int, start: int) -> None:
        self.callback = progress if callable(progress) else None
        self.epochs, self.steps = epochs, steps
        show_bar = self.callback is None and progress is not False
        self.bar = (
            tqdm(
                total=epochs * steps,
                initial=start * steps,
                file=sys.stderr,
                unit="step",
                desc="training",
                dynamic_ncols=True,
            )
            if show_bar
            else None
        )

    def __enter__(self) -> _Reporter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.bar is not None:
            self.bar.close()

    def step(self, epoch: int, step: int, loss: float, accuracy: float) -> None:
        if self.callback is not None:
            done = (epoch - 1) * self.steps + step
            report(
                self.callback,
                done / (self.epochs * self.steps),
                f"epoch {epoch}/{self.epochs}, step {step}/{self.steps}: "
                f"loss {loss:.3f}, accuracy {accuracy:.3f}",
            )
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(
                epoch=f"{epoch}/{self.epochs}",
                loss=f"{loss:.3f}",
                acc=f"{accuracy:.3f}",
                refresh=False,
            )
