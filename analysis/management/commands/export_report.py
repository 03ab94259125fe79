"""`manage.py export_report <slug> --out DIR`: a study's report, written locally and stored."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.services import SUMMARY, study_report_build
from icelab.cli import command_errors, progress_bar
from studies.selectors import study_by_slug


class Command(BaseCommand):
    help = (
        "Build a study's report (responses.csv, participants.csv, Table 1 as CSV/Markdown/LaTeX, "
        "tests, concepts, report.html) from its data so far, write it into --out and store it "
        "under reports/<slug>/ in the media storage, where staff can download it from the admin. "
        "Prints a JSON summary: the files written and the report's notes."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The study's slug (its link is /s/<slug>/).")
        parser.add_argument("--out", required=True, help="Folder to write the files into.")
        parser.add_argument(
            "--json", action="store_true", help="Print only the JSON summary, on one line."
        )

    def handle(self, *args, **options):
        study = study_by_slug(slug=options["slug"])
        if study is None:
            raise CommandError(
                f"no study with slug {options['slug']!r}; see the admin's study list for the slugs."
            )
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out={out} is a file; give a folder (it is created if missing).")
        show_bar = options["verbosity"] > 0 and not options["json"]
        with command_errors(), progress_bar(enabled=show_bar) as update:
            stored = study_report_build(study=study, out_dir=out, progress=update)
        summary = {
            **stored.summary(),
            "written": sorted(str(out / name) for name in [*stored.files, SUMMARY]),
        }
        if not options["json"]:
            for note in stored.notes:
                self.stderr.write(f"note: {note}")
        self.stdout.write(json.dumps(summary, indent=None if options["json"] else 2))
