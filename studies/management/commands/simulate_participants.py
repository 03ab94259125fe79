"""Run simulated participants through a study's real pages (tests, the demo, the load benchmark)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from icelab.cli import command_errors, progress_bar

from ...models import Platform
from ...selectors import study_by_slug
from ...services import participants_simulate
from ...services.bots import POLICIES


class Command(BaseCommand):
    help = (
        "Simulate N participants taking a live study through its pages: in-process by default, "
        "or over HTTP against --base-url. Prints a JSON summary."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The study's slug (its link is /s/<slug>/).")
        parser.add_argument("--n", type=int, default=10, help="How many participants.")
        parser.add_argument("--policy", choices=POLICIES, default="random")
        parser.add_argument("--platform", choices=Platform.values, default=Platform.ANONYMOUS)
        parser.add_argument(
            "--base-url", default=None, help="A running server, e.g. http://127.0.0.1:8000."
        )
        parser.add_argument("--concurrency", type=int, default=1, help="Bots at once (HTTP only).")
        parser.add_argument("--seed", type=int, default=0, help="Seeds every bot's choices.")

    def handle(self, *args, **options) -> None:
        study = study_by_slug(slug=options["slug"])
        if study is None:
            raise CommandError(
                f"no study with slug {options['slug']!r}; create and launch it first."
            )
        if options["concurrency"] > 1 and not options["base_url"]:
            raise CommandError("--concurrency needs --base-url: in-process bots run one at a time.")
        with command_errors(), progress_bar(enabled=options["verbosity"] > 0) as progress:
            summary = participants_simulate(
                study=study,
                n=options["n"],
                policy=options["policy"],
                platform=options["platform"],
                base_url=options["base_url"],
                seed=options["seed"],
                concurrency=options["concurrency"],
                progress=progress,
            )
        self.stdout.write(json.dumps(summary, indent=1, sort_keys=True))
        if summary["errors"]:
            raise CommandError(
                f"{len(summary['errors'])} simulated participants failed; see above."
            )
