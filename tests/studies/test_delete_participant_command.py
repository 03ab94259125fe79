"""manage.py delete_participant <slug> <platform> <id>."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from studies.models import Participant


def test_it_deletes_the_participant_and_prints_what_went(study, walker):
    walker.start(study, {"PROLIFIC_PID": "PID9", "STUDY_ID": "S1", "SESSION_ID": "X9"})
    walker.start(study)  # someone else, anonymous
    out = StringIO()
    call_command("delete_participant", study.slug, "prolific", "PID9", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["deleted"]["participants"] == 1 and summary["deleted"]["attempts"] == 1
    assert list(Participant.objects.values_list("platform", flat=True)) == ["anonymous"]


def test_it_names_what_was_not_found(study):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        call_command("delete_participant", "nope", "prolific", "PID9")
    with pytest.raises(CommandError, match="no participant prolific:'PID9'"):
        call_command("delete_participant", study.slug, "prolific", "PID9")
