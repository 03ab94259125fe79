"""Delete one participant's data on request (docs/security.md, "Deleting a participant")."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from icelab.cli import command_errors

from ...models import Platform
from ...selectors import study_by_slug
from ...services import participant_delete


class Command(BaseCommand):
    help = (
        "Delete every row about one participant of a study (answers, events, attempts, the "
        "participant) in one transaction; bonus payments keep their amounts but lose the ids. "
        "Prints what was deleted as JSON. Files already exported are not changed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="The study's slug (its link is /s/<slug>/).")
        parser.add_argument("platform", choices=Platform.values)
        parser.add_argument("id", help="The platform's id: MTurk WorkerId or Prolific PID.")

    def handle(self, *args, **options) -> None:
        study = study_by_slug(slug=options["slug"])
        if study is None:
            raise CommandError(f"no study with slug {options['slug']!r}.")
        with command_errors():
            deletion = participant_delete(
                study=study, platform=options["platform"], external_id=options["id"]
            )
        self.stdout.write(json.dumps(deletion.as_dict(), indent=1, sort_keys=True))
