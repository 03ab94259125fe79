"""`manage.py demo`: run ICE Lab's whole job on the embedded default, then serve it."""

import json
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from icelab.demo import run_demo


class Command(BaseCommand):
    help = "Run the demo on the embedded default (synthetic data, CPU, SQLite) and serve the site."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-serve", action="store_true", help="Stop after the demo instead of serving."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print only the JSON summary on stdout."
        )
        parser.add_argument(
            "--addrport", default="127.0.0.1:8000", help="Where to serve (default 127.0.0.1:8000)."
        )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if settings.DEBUG:
            _ensure_local_admin()
        say = (lambda m: print(m, file=sys.stderr)) if options["json"] else self.stdout.write
        summary = run_demo(say=say)
        text = json.dumps(summary, indent=None if options["json"] else 2)
        self.stdout.write(text)
        if not options["no_serve"]:
            call_command("runserver", options["addrport"], use_reloader=False)


def _ensure_local_admin() -> None:
    """A known admin login for the local demo only (DEBUG); never created in production."""
    User = get_user_model()
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@localhost", "admin")
