"""Train or fine-tune a classifier on an ImageFolder dataset, in the foreground, resumably."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ...ice.training import train_classifier


class Command(BaseCommand):
    help = (
        "Train a classifier on DIR/train/<class>/<image> and test it on DIR/test (or DIR/val, or 10% of "
        "train held out). Re-running with the same arguments resumes; a finished run is not repeated."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--data", required=True, help="Dataset folder holding train/ (and val/, test/)."
        )
        parser.add_argument("--out", required=True, help="Checkpoint file to write (.pt).")
        parser.add_argument(
            "--arch",
            default=None,
            help="Architecture (default: icelab_resnet; any torchvision name).",
        )
        parser.add_argument(
            "--weights",
            default=None,
            help="Starting weights: a torchvision name (IMAGENET1K_V2; must be in the torch hub "
            "cache) or a local checkpoint. Default: random initialisation.",
        )
        parser.add_argument("--epochs", type=int, default=None)
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument(
            "--lr", type=float, default=None, help="Peak learning rate of the one-cycle schedule."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--input-size", type=int, default=None, help="Square input side in pixels."
        )
        parser.add_argument(
            "--workers", type=int, default=None, help="DataLoader worker processes (default 2)."
        )
        parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N].")
        parser.add_argument(
            "--no-resume", action="store_true", help="Start over even if --out holds a run."
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help='Print one JSON object {"test_accuracy", "checkpoint", "seconds"} on stdout.',
        )

    def handle(self, *args, **options) -> None:
        try:
            result = train_classifier(
                options["data"],
                out=options["out"],
                arch=options["arch"],
                weights=options["weights"],
                epochs=options["epochs"],
                batch_size=options["batch_size"],
                lr=options["lr"],
                seed=options["seed"],
                input_size=options["input_size"],
                workers=options["workers"],
                device=options["device"],
                resume=not options["no_resume"],
                progress=None if options["verbosity"] > 0 else False,
            )
        except (ValueError, TypeError, FileNotFoundError) as error:
            raise CommandError(str(error)) from error
        for skipped in result.skipped:
            self.stderr.write(f"skipped unreadable image {skipped}")
        if options["json"]:
            summary = {
                "test_accuracy": result.test_accuracy,
                "checkpoint": str(result.checkpoint),
                "seconds": result.seconds,
            }
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"{result.arch}: test accuracy {result.test_accuracy:.4f} on {result.n_test} images "
                f"({result.test_split}) after {result.epochs} epochs, {result.seconds:.0f} s; saved {result.checkpoint}"
            )
