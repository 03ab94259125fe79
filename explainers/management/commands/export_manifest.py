"""Write the stimulus-set manifest (JSON) used to reproduce and audit what participants saw."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ...models import StimulusSet
from ...services import manifest_export


class Command(BaseCommand):
    help = (
        "Export the manifest of all stimulus sets (or --stimulus-set ID, repeatable) to --out FILE."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", required=True, help="Manifest file to write (JSON).")
        parser.add_argument(
            "--stimulus-set",
            type=int,
            action="append",
            dest="stimulus_sets",
            help="Set id (repeatable).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print {path, stimulus_sets} as JSON on stdout."
        )

    def handle(self, *args, **options) -> None:
        sets = None
        if options["stimulus_sets"]:
            ids = options["stimulus_sets"]
            sets = list(StimulusSet.objects.filter(pk__in=ids).order_by("pk"))
            missing = sorted(set(ids) - {s.pk for s in sets})
            if missing:
                raise CommandError(
                    f"no stimulus set with id {missing}; see the admin's Stimulus sets page."
                )
            not_ready = [s.pk for s in sets if s.status != StimulusSet.Status.READY]
            if not_ready:
                raise CommandError(
                    f"stimulus sets {not_ready} are not built yet; build them first."
                )
        path = manifest_export(out=options["out"], stimulus_sets=sets)
        count = (
            len(sets)
            if sets is not None
            else StimulusSet.objects.filter(status=StimulusSet.Status.READY).count()
        )
        if options["json"]:
            self.stdout.write(json.dumps({"path": str(path), "stimulus_sets": count}))
        else:
            self.stdout.write(f"wrote the manifest of {count} stimulus set(s) to {path}")
