"""`manage.py concept_alignment`: concept–part alignment and stability on the synthetic scenario."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analysis.alignment_report import alignment_report
from explainers.selectors import scenario_by_id_or_name
from icelab.cli import command_errors, int_list_arg, progress_bar


class Command(BaseCommand):
    help = (
        "Fit NMF, PCA and k-means explainers per class of the synthetic scenario over c' and measure how well "
        "their concepts align with the dataset's part masks (IoU, purity) and how stable they are across seeds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scenario", help="Scenario id or name (default: the demo's, made if missing)."
        )
        parser.add_argument(
            "--components",
            default="5,10,15,20,25,30,35,40,45,50",
            help="Comma-separated c' values (default 5..50 step 5).",
        )
        parser.add_argument(
            "--classes", type=int, default=None, help="Use only the first N classes."
        )
        parser.add_argument(
            "--reducers",
            default="nmf,pca,kmeans",
            help="Comma-separated subset of nmf, pca, kmeans (default all three).",
        )
        parser.add_argument(
            "--out", default=None, help="Output directory (default $ICELAB_HOME/alignment)."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print only the JSON summary on stdout."
        )

    def handle(self, *args, **options):
        from explainers.services import default_scenario_create

        components = int_list_arg(options["components"], name="--components")
        reducers = [name.strip().lower() for name in options["reducers"].split(",") if name.strip()]
        unknown = sorted(set(reducers) - {"nmf", "pca", "kmeans"})
        if not reducers or unknown:
            raise CommandError(
                f"--reducers={options['reducers']!r}: choose from nmf, pca, kmeans "
                "(comma-separated)."
            )
        if options["classes"] is not None and options["classes"] < 1:
            raise CommandError(
                f"--classes={options['classes']} must be at least 1 (leave it out for every class)."
            )
        with command_errors():
            scenario = (
                default_scenario_create()[0]
                if options["scenario"] is None
                else scenario_by_id_or_name(value=options["scenario"])
            )
        out = Path(options["out"] or Path(settings.ICELAB_HOME) / "alignment")
        with command_errors(), progress_bar(enabled=options["verbosity"] > 0) as update:
            try:
                summary = alignment_report(
                    scenario,
                    out,
                    n_components=components,
                    n_classes=options["classes"],
                    reducers=reducers,
                    progress=update,
                )
            except (ValueError, FileNotFoundError) as error:  # the core's and the dataset's errors
                raise CommandError(str(error)) from error
        self.stdout.write(
            json.dumps(summary, indent=None if options["json"] else 2, allow_nan=False)
        )
