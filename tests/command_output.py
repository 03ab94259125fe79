"""Running a management command the way a script would: its JSON output, parsed."""

import io
import json

from django.core.management import call_command


def command_json(*args) -> dict:
    """Run ``manage.py <args> --json`` in-process and return what it printed, parsed."""
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())
