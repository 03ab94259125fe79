"""Generate the built-in synthetic part dataset (ImageFolder tree + part masks + metadata)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from icelab.cli import progress_bar

from ...ice.synthetic import DEFAULT_N_CLASSES, DEFAULT_PER_CLASS, make_synthetic_dataset


def _per_class(value: str) -> int | tuple[int, ...]:
    """``K`` (a total split 70/15/15) or ``TRAIN,VAL,TEST``."""
    try:
        numbers = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise CommandError(
            f"--per-class={value!r}; give an integer total like 500 or three counts like 350,50,100."
        ) from None
    return numbers[0] if len(numbers) == 1 else numbers


class Command(BaseCommand):
    help = (
        "Draw the synthetic dataset: classes made of named parts, with a pixel mask per part. Writes "
        "OUT/{train,val,test}/<class>/<id>.png, OUT/masks/... and OUT/metadata.json. The same arguments give "
        "byte-identical files; an existing identical dataset is reused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out",
            default=None,
            help="Dataset directory (default: ICELAB_HOME/datasets/synthetic).",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="Seed every image derives from (default 0)."
        )
        parser.add_argument(
            "--per-class",
            default=",".join(map(str, DEFAULT_PER_CLASS)),
            help="Images per class: a total K split 70/15/15, or TRAIN,VAL,TEST "
            "(default %(default)s).",
        )
        parser.add_argument(
            "--size", type=int, default=96, help="Image side in pixels, at least 64 (default 96)."
        )
        parser.add_argument(
            "--classes",
            type=int,
            default=DEFAULT_N_CLASSES,
            help="Number of classes, the first C defined (default %(default)s).",
        )
        parser.add_argument(
            "--workers", type=int, default=None, help="Worker processes (default: all CPUs)."
        )
        parser.add_argument("--force", action="store_true", help="Replace whatever OUT holds.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print a JSON summary (path, reused, seconds, counts, classes) on stdout.",
        )

    def handle(self, *args: object, **options: object) -> None:
        out = (
            Path(options["out"])
            if options["out"]
            else Path(settings.ICELAB_HOME) / "datasets" / "synthetic"
        )
        try:
            with progress_bar(enabled=int(options["verbosity"]) > 0) as progress:
                result = make_synthetic_dataset(
                    out,
                    seed=options["seed"],
                    per_class=_per_class(str(options["per_class"])),
                    size=options["size"],
                    n_classes=options["classes"],
                    workers=options["workers"],
                    force=bool(options["force"]),
                    progress=progress,
                )
        except (ValueError, TypeError, FileExistsError) as error:
            raise CommandError(str(error)) from error
        metadata = result.metadata
        if options["json"]:
            summary = {
                "path": str(result.path),
                "reused": result.reused,
                "seconds": round(result.seconds, 3),
                "workers": result.workers,
                "seed": metadata["seed"],
                "size": metadata["size"],
                "splits": metadata["splits"],
                "per_class": metadata["per_class"],
                "classes": metadata["classes"],
            }
            self.stdout.write(json.dumps(summary, sort_keys=True))
        elif result.reused:
            self.stdout.write(
                f"Reused the existing dataset at {result.path} (same seed, size, classes and counts); "
                f"{result.n_images} images. Pass --force to regenerate it."
            )
        else:
            counts = ", ".join(f"{split} {n}" for split, n in metadata["splits"].items())
            self.stdout.write(
                self.style.SUCCESS(
                    f"Generated {result.n_images} images ({counts}) of {len(metadata['classes'])} classes at "
                    f"{metadata['size']} px in {result.path} in {result.seconds:.1f} s with {result.workers} worker(s)."
                )
            )
