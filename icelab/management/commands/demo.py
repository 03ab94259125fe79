"""`manage.py demo`: run ICE Lab's whole job on the embedded default, then serve it."""

import json
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from config.env import kept_secret
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
        say = (lambda m: print(m, file=sys.stderr)) if options["json"] else self.stdout.write
        password_file = _ensure_local_admin()
        say(
            f"Admin login: user admin, password {password_file.read_text().strip()} "
            f"(made for this machine only; kept in {password_file})"
        )
        summary = run_demo(say=say, base_url=f"http://{options['addrport']}")
        text = json.dumps(summary, indent=None if options["json"] else 2)
        self.stdout.write(text)
        if not options["no_serve"]:
            call_command("runserver", options["addrport"], use_reloader=False)


def _ensure_local_admin() -> Path:
    """An admin login for this machine: user ``admin`` with a password generated once.

    The password is random, kept in ICELAB_HOME (mode 0600) and shown only on the demo's
    own terminal, so a demo left running on a reachable machine has no well-known login.
    """
    password_file = Path(settings.ICELAB_HOME) / "demo-admin-password"
    password = kept_secret(password_file)
    User = get_user_model()
    user = User.objects.filter(username="admin").first()
    if user is None:
        User.objects.create_superuser("admin", "admin@localhost", password)
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return password_file
