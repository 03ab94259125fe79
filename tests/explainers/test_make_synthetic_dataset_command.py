"""`manage.py make_synthetic_dataset`: arguments, summary, reuse and refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

SMALL = ["--per-class", "3", "--classes", "3", "--size", "64", "--workers", "1"]


def run(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("make_synthetic_dataset", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_it_generates_the_tree_and_prints_a_summary(tmp_path):
    output = run("--out", str(tmp_path / "data"), "--seed", "2", *SMALL)
    assert "Generated 9 images" in output and "3 classes" in output
    metadata = json.loads((tmp_path / "data" / "metadata.json").read_text())
    assert metadata["seed"] == 2 and metadata["per_class"] == {"train": 1, "val": 1, "test": 1}
    assert sorted(p.name for p in (tmp_path / "data" / "train").iterdir()) == [
        "bus",
        "car",
        "fire_engine",
    ]


def test_it_reuses_an_identical_dataset(tmp_path):
    run("--out", str(tmp_path / "data"), *SMALL)
    assert "Reused the existing dataset" in run("--out", str(tmp_path / "data"), *SMALL)


def test_it_prints_json(tmp_path):
    summary = json.loads(
        run(
            "--out",
            str(tmp_path / "data"),
            "--per-class",
            "2,1,1",
            "--classes",
            "2",
            "--size",
            "64",
            "--json",
        )
    )
    assert summary["reused"] is False
    assert summary["splits"] == {"train": 4, "val": 2, "test": 2}
    assert summary["classes"] == ["bus", "car"]
    assert summary["path"] == str((tmp_path / "data").absolute())


def test_it_writes_under_icelab_home_by_default(tmp_path, settings):
    settings.ICELAB_HOME = tmp_path
    run(*SMALL)
    assert (tmp_path / "datasets" / "synthetic" / "metadata.json").is_file()


def test_it_refuses_to_overwrite_another_dataset_without_force(tmp_path):
    run("--out", str(tmp_path / "data"), *SMALL)
    with pytest.raises(CommandError, match="--force"):
        run("--out", str(tmp_path / "data"), "--seed", "9", *SMALL)
    assert "Generated" in run("--out", str(tmp_path / "data"), "--seed", "9", "--force", *SMALL)
    assert json.loads((tmp_path / "data" / "metadata.json").read_text())["seed"] == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "32"], "size=32"),
        (["--per-class", "2"], "per_class=2"),
        (["--per-class", "0,1,1"], "per_class"),
        (["--per-class", "lots"], "--per-class"),
        (["--classes", "99"], "n_classes=99"),
        (["--workers", "0"], "workers=0"),
    ],
)
def test_it_explains_bad_input(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        run("--out", str(tmp_path / "data"), *args)
    assert not Path(tmp_path / "data").exists()
