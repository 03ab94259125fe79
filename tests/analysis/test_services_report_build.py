"""analysis.services.study_report_build: the report of a simulated study, stored and copied."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from analysis.selectors import participant_key, participant_pseudonym, study_reports
from analysis.services import study_report_build
from analysis.stats import pseudonym
from studies.models import Participant
from studies.services import study_close

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
}


def _stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def _stored_csv(report, name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(_stored(report.files[name])))


def test_every_file_is_stored_under_the_study_and_run(taken_study, media_root):
    report = study_report_build(study=taken_study)
    assert set(report.files) == FILES
    assert report.storage_dir == f"reports/taken/{report.run_id}"
    for name, stored in report.files.items():
        assert stored == f"{report.storage_dir}/{name}"
        assert default_storage.exists(stored) and _stored(stored)
    summary = json.loads(_stored(f"{report.storage_dir}/summary.json"))
    assert summary["files"] == report.files and summary["notes"] == report.notes
    assert (media_root / report.storage_dir / "report.html").is_file()


def test_participants_are_pseudonymised_with_the_configured_key(
    taken_study, media_root, pseudonym_key
):
    report = study_report_build(study=taken_study)
    people = list(Participant.objects.filter(study=taken_study))
    expected = {
        pseudonym(participant_key(p.platform, p.external_id), pseudonym_key) for p in people
    }
    rows = _stored_csv(report, "participants.csv")
    assert set(rows["participant"]) == expected
    assert set(_stored_csv(report, "responses.csv")["participant"]) <= expected
    assert participant_pseudonym(participant=people[0]) in expected
    everything = b"".join(_stored(name) for name in report.files.values())
    for person in people:
        assert person.external_id.encode() not in everything


def test_pseudonyms_are_stable_across_reports_and_change_with_the_key(
    taken_study, media_root, settings
):
    first = set(
        _stored_csv(study_report_build(study=taken_study), "participants.csv")["participant"]
    )
    second = set(
        _stored_csv(study_report_build(study=taken_study), "participants.csv")["participant"]
    )
    assert first == second
    settings.ICELAB_PSEUDONYM_KEY = "another-key-of-at-least-sixteen-bytes"
    third = set(
        _stored_csv(study_report_build(study=taken_study), "participants.csv")["participant"]
    )
    assert third.isdisjoint(first)


def test_the_key_is_in_no_exported_file(taken_study, media_root, pseudonym_key, tmp_path):
    report = study_report_build(study=taken_study, out_dir=tmp_path / "out")
    stored = [_stored(name) for name in report.files.values()]
    stored.append(_stored(f"{report.storage_dir}/summary.json"))
    local = [path.read_bytes() for path in (tmp_path / "out").iterdir()]
    for content in stored + local:
        assert pseudonym_key.encode() not in content
    assert len(local) == len(FILES) + 1  # and the summary


def test_a_live_study_says_it_shows_the_data_so_far(taken_study, media_root):
    report = study_report_build(study=taken_study)
    assert report.live
    assert "data so far" in report.notes[0]
    assert "data so far" in _stored(report.files["report.html"]).decode()


def test_a_closed_study_is_not_flagged(taken_study, media_root):
    study_close(study=taken_study)
    report = study_report_build(study=taken_study)
    assert not report.live and not any("data so far" in note for note in report.notes)


def test_the_report_uses_the_study_rules(taken_study, media_root):
    report = study_report_build(study=taken_study)
    rows = _stored_csv(report, "participants.csv")
    assert len(rows) == Participant.objects.filter(study=taken_study).count()
    # Random bots below the study's threshold were excluded during the study; the report
    # says so too (their status is not completed).
    excluded = Participant.objects.filter(study=taken_study, status="excluded").count()
    assert excluded and rows["excluded"].sum() >= excluded


def test_a_study_nobody_took_part_in_is_refused_with_a_clear_message(make_study, media_root):
    study = make_study(slug="nobody")
    with pytest.raises(ValidationError, match="no participants yet"):
        study_report_build(study=study)
    assert not default_storage.exists("reports/nobody")


def test_progress_is_reported_from_zero_to_done(taken_study, media_root):
    steps: list[tuple[float, str]] = []
    study_report_build(study=taken_study, progress=lambda f, s: steps.append((f, s)))
    fractions = [fraction for fraction, _ in steps]
    assert fractions == sorted(fractions)
    assert steps[0][0] == 0.0 and steps[-1] == (1.0, "done")
    assert "storing the files" in [step for _, step in steps]


def test_stored_reports_are_listed_newest_first_with_urls(taken_study, media_root):
    first = study_report_build(study=taken_study)
    second = study_report_build(study=taken_study)
    # A report whose summary is not stored yet (being stored, or failed half-way) is not listed.
    default_storage.delete(f"{first.storage_dir}/summary.json")
    listed = study_reports(study=taken_study)
    assert [report["run_id"] for report in listed] == [second.run_id]
    assert listed[0]["urls"]["report.html"] == f"/media/{second.files['report.html']}"


def test_a_short_pseudonym_key_is_refused_naming_the_setting(taken_study, media_root, settings):
    settings.ICELAB_PSEUDONYM_KEY = "short"
    with pytest.raises(ValidationError, match="ICELAB_PSEUDONYM_KEY is shorter than 16 bytes"):
        study_report_build(study=taken_study)
    assert not default_storage.exists("reports/taken")
