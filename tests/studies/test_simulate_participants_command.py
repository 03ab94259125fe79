"""``manage.py simulate_participants``."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from studies.models import Participant


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command("simulate_participants", *args, stdout=out, verbosity=0)
    return json.loads(out.getvalue())


def test_it_runs_n_participants_and_prints_a_json_summary(study):
    summary = run(study.slug, "--n", "2", "--policy", "oracle", "--platform", "prolific")
    assert summary["statuses"] == {"completed": 2} and summary["n"] == 2
    assert summary["policy"] == "oracle" and summary["platform"] == "prolific"
    assert Participant.objects.filter(platform="prolific").count() == 2


def test_an_unknown_study_or_bad_options_are_errors(study):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        run("nope")
    with pytest.raises(CommandError, match="--concurrency needs --base-url"):
        run(study.slug, "--concurrency", "4")
    with pytest.raises(CommandError):
        run(study.slug, "--policy", "smart")


def test_anonymous_bots_need_the_pilot_link(make_study):
    study = make_study(allow_anonymous=False)
    with pytest.raises(CommandError, match="simulated participants failed"):
        run(study.slug, "--n", "1")
    assert not Participant.objects.exists()
