"""`manage.py export_report <slug> --out DIR [--json]`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

FILES = {
    "responses.csv",
    "descriptions.csv",
    "participants.csv",
    "table1.csv",
    "table1.md",
    "table1.tex",
    "tests.csv",
    "concepts.csv",
    "report.html",
    "summary.json",
}


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_report", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_writes_every_file_and_prints_a_json_summary(taken_study, media_root, tmp_path):
    out, _ = _run("taken", "--out", str(tmp_path / "report"), "--json")
    summary = json.loads(out)
    assert {path.name for path in (tmp_path / "report").iterdir()} == FILES
    assert sorted(summary["written"]) == sorted(str(tmp_path / "report" / n) for n in FILES)
    assert summary["notes"] and "data so far" in summary["notes"][0]
    for stored in summary["files"].values():
        assert default_storage.exists(stored)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<table" in html and "Table 1" in html


def test_without_json_it_prints_the_notes_and_an_indented_summary(
    taken_study, media_root, tmp_path
):
    out, err = _run("taken", "--out", str(tmp_path / "report"))
    assert json.loads(out)["study"] == "taken" and out.startswith("{\n")
    assert "note: This study is still live" in err


def test_an_unknown_slug_is_a_command_error(db, tmp_path):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        _run("nope", "--out", str(tmp_path))


def test_a_study_without_participants_is_a_command_error(make_study, media_root, tmp_path):
    make_study(slug="nobody")
    with pytest.raises(CommandError, match="no participants yet"):
        _run("nobody", "--out", str(tmp_path / "report"))
    assert not (tmp_path / "report").exists()


def test_an_out_path_that_is_a_file_is_refused(db, tmp_path, make_study):
    make_study(slug="filed")
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(CommandError, match="is a file"):
        _run("filed", "--out", str(target))
