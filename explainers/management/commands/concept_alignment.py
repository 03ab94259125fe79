"""`manage.py concept_alignment`: concept–part alignment and stability on the synthetic scenario."""
import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from explainers.alignment_report import alignment_report


class Command(BaseCommand):
    help = (
        "Fit NMF, PCA and k-means explainers per class of the synthetic scenario over c' and measure how well "
        "their concepts align with the dataset's part masks (IoU, purity) and how stable they are across seeds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scenario", type=int, help="Scenario id (default: the demo's, made if missing).")
        parser.add_argument("--components", default="5,10,15,20,25,30,35,40,45,50",
                            help="Comma-separated c' values (default 5..50 step 5).")
        parser.add_argument("--classes", type=int, default=None, help="Use only the first N classes.")
        parser.add_argument("--out", default=None, help="Output directory (default $ICELAB_HOME/alignment).")
        parser.add_argument("--json", action="store_true", help="Print only the JSON summary on stdout.")

    def handle(self, *args, **options):
        from explainers.demo import demo_scenario
        from explainers.models import Scenario

        try:
            components = [int(v) for v in options["components"].split(",") if v.strip()]
        except ValueError:
            components = []
        if not components:
            raise CommandError(f"--components={options['components']!r} must be comma-separated integers, e.g. 5,10,20.")
        if options["classes"] is not None and options["classes"] < 1:
            raise CommandError(f"--classes={options['classes']} must be at least 1 (leave it out for every class).")
        if options["scenario"] is None:
            scenario, _ = demo_scenario()
        else:
            scenario = Scenario.objects.filter(pk=options["scenario"]).first()
            if scenario is None:
                raise CommandError(f"--scenario={options['scenario']}: no such scenario; see the admin for ids.")
        out = Path(options["out"] or Path(settings.ICELAB_HOME) / "alignment")
        bar = tqdm(total=0, file=sys.stderr, unit="fit", disable=not sys.stderr.isatty())

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            summary = alignment_report(scenario, out, n_components=components, n_classes=options["classes"],
                                       progress=progress)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        except (ValueError, FileNotFoundError) as error:
            raise CommandError(str(error)) from error
        finally:
            bar.close()
        self.stdout.write(json.dumps(summary, indent=None if options["json"] else 2, allow_nan=False))
