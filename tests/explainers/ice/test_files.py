"""Atomic writes: a reader sees the old file or the whole new one, never a part, and no leftovers."""

import pytest

from explainers.ice.files import atomic_file, atomic_write_bytes, atomic_write_text


def test_it_replaces_the_file_whole(tmp_path):
    path = tmp_path / "deep" / "out.json"
    atomic_write_text(path, "old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]


def test_a_failure_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "out.txt", "old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_file(path, "w") as stream:
            stream.write("half of the new")
            raise RuntimeError("disk on fire")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_it_refuses_modes_that_do_not_write_a_whole_file(tmp_path):
    with pytest.raises(ValueError, match="mode='a'"):
        with atomic_file(tmp_path / "x", "a"):
            pass
