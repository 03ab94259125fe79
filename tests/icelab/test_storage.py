"""storage_save: a failed write leaves no partial file and says where, why and how to fix it."""

from __future__ import annotations

import errno
import os

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, default_storage

from icelab.storage import storage_save


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media"


def test_a_full_disk_leaves_nothing_under_the_name_and_names_path_and_fix(media, full_disk):
    with pytest.raises(ValidationError) as raised:
        storage_save("stimuli/abc.png", b"x" * 1000)
    message = raised.value.messages[0]
    assert f"could not write {media / 'stimuli' / 'abc.png'}: No space left on device" in message
    assert "free disk space there" in message and "ICELAB_HOME" in message
    assert full_disk["failed"] == ["stimuli/abc.png"]  # it did write half of it
    assert not (media / "stimuli" / "abc.png").exists()


def test_the_same_bytes_stored_meanwhile_by_another_process_are_kept(media, monkeypatch):
    def race(storage, name, content):
        (media / "stimuli").mkdir(parents=True, exist_ok=True)
        (media / "stimuli" / "same.png").write_bytes(b"whole")  # the other process's copy
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", race)
    with pytest.raises(ValidationError):
        storage_save("stimuli/same.png", b"whole")
    assert (media / "stimuli" / "same.png").read_bytes() == b"whole"


def test_an_unwritable_media_folder_says_to_make_it_writable(media, monkeypatch):
    def denied(storage, name, content):
        raise PermissionError(errno.EACCES, "Permission denied", storage.path(name))

    monkeypatch.setattr(FileSystemStorage, "_save", denied)
    with pytest.raises(ValidationError, match="Permission denied.*make that folder writable"):
        storage_save("reports/x.csv", b"a,b\n")
    assert not default_storage.exists("reports/x.csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any folder's mode bits")
def test_a_read_only_media_folder_gives_the_same_clear_error(media):
    (media / "stimuli").mkdir(parents=True)
    (media / "stimuli").chmod(0o500)
    try:
        with pytest.raises(ValidationError, match="Permission denied.*make that folder writable"):
            storage_save("stimuli/a.png", b"png")
    finally:
        (media / "stimuli").chmod(0o700)
    assert list((media / "stimuli").iterdir()) == []
