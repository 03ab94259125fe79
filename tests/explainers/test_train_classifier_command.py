"""The train_classifier management command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.explainers.ice.test_training import make_shapes

ROOT = Path(__file__).resolve().parents[2]


def test_it_prints_exactly_one_json_object_on_stdout(tmp_path):
    data = make_shapes(tmp_path / "data")
    out = tmp_path / "model.pt"
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "train_classifier",
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--workers",
            "0",
            "--json",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)  # fails if anything else reached stdout
    assert set(summary) == {"test_accuracy", "checkpoint", "seconds"}
    assert (
        summary["checkpoint"] == str(out) and out.is_file() and 0 <= summary["test_accuracy"] <= 1
    )
    assert "training" in completed.stderr  # the progress bar goes to stderr


def test_it_reports_bad_input_as_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="has no train/ folder"):
        call_command("train_classifier", "--data", str(tmp_path), "--out", str(tmp_path / "m.pt"))


def test_it_prints_a_summary_line_without_json(tmp_path):
    data = make_shapes(tmp_path / "data")
    stdout = io.StringIO()
    call_command(
        "train_classifier",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "m.pt"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--workers",
        "0",
        verbosity=0,
        stdout=stdout,
    )
    assert (
        "icelab_resnet: test accuracy" in stdout.getvalue()
        and str(tmp_path / "m.pt") in stdout.getvalue()
    )
