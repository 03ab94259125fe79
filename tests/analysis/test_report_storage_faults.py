"""A full disk or unwritable folder while a report is written: a clear error and no partial report."""

from __future__ import annotations

import errno
import io
import shutil

import pytest
from django.core.management import CommandError, call_command

from analysis import services


def _export(*args: str) -> None:
    call_command("export_report", *args, stdout=io.StringIO(), stderr=io.StringIO())


def _stored_files(media_root) -> list[str]:
    return sorted(str(p) for p in (media_root / "reports").rglob("*") if p.is_file())


def test_a_full_media_disk_keeps_no_file_of_the_report(
    taken_study, media_root, full_disk, tmp_path
):
    full_disk["left"] = 3  # the fourth file meets a full disk
    with pytest.raises(CommandError) as raised:
        _export("taken", "--out", str(tmp_path / "out"))
    message = str(raised.value)
    assert f"could not write {media_root / 'reports' / 'taken'}" in message
    assert "No space left on device" in message and "free disk space there" in message
    assert len(full_disk["failed"]) == 1
    assert _stored_files(media_root) == []  # the three whole files went too: no half report
    assert not (tmp_path / "out").exists()  # the local copy comes after storing

    full_disk["left"] = 10**6  # space again: the same command succeeds
    _export("taken", "--out", str(tmp_path / "out"))
    assert any(name.endswith("summary.json") for name in _stored_files(media_root))


def test_a_full_output_folder_leaves_no_temporary_file_and_says_the_report_is_stored(
    taken_study, media_root, tmp_path, monkeypatch
):
    copied, copyfile = [], shutil.copyfile

    def copy_until_full(source, target):
        if copied:
            target.write_bytes(source.read_bytes()[:10])  # half written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        copied.append(copyfile(source, target))

    monkeypatch.setattr(services.shutil, "copyfile", copy_until_full)
    out = tmp_path / "out"
    with pytest.raises(CommandError, match=f"could not copy the report into {out}: No space"):
        _export("taken", "--out", str(out))
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    assert not (out / "summary.json").exists()  # an incomplete copy is never marked complete
    assert any(name.endswith("summary.json") for name in _stored_files(media_root))
