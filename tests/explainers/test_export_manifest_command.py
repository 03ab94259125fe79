"""`manage.py export_manifest`: the manifest of the chosen set, and a clear error for a missing one."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.command_output import command_json as _json


def test_export_manifest_writes_the_chosen_set(scenario, tmp_path):
    built = _json(
        "build_stimulus_set",
        "--scenario",
        str(scenario.pk),
        "--reducer",
        "kmeans",
        "--n-classes",
        "3",
        "--n-training",
        "1",
        "--device",
        "cpu",
    )
    set_id = built["stimulus_sets"][0]["id"]
    out = tmp_path / "manifest.json"
    result = _json("export_manifest", "--out", str(out), "--stimulus-set", str(set_id))
    assert result == {"path": str(out), "stimulus_sets": 1}
    assert json.loads(out.read_text())["stimulus_sets"][0]["id"] == set_id


def test_export_manifest_names_a_missing_set(db, tmp_path):
    with pytest.raises(CommandError, match=r"no stimulus set with id \[99\]"):
        call_command("export_manifest", "--out", str(tmp_path / "m.json"), "--stimulus-set", "99")
