"""ICELAB_PSEUDONYM_KEY: from the environment or a file, else generated once in ICELAB_HOME."""

from __future__ import annotations

import importlib

import pytest


@pytest.fixture
def reload_settings(monkeypatch):
    import config.settings as settings_module

    monkeypatch.delenv("ICELAB_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("ICELAB_PSEUDONYM_KEY_FILE", raising=False)
    yield lambda: importlib.reload(settings_module)
    monkeypatch.undo()
    importlib.reload(settings_module)


def test_without_a_key_one_is_generated_once_in_icelab_home(reload_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("ICELAB_HOME", str(tmp_path / "home"))
    first = reload_settings()
    key_file = tmp_path / "home" / "pseudonym_key"
    assert first.ICELAB_PSEUDONYM_KEY == key_file.read_text().strip()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(first.ICELAB_PSEUDONYM_KEY) >= 32
    assert first.ICELAB_PSEUDONYM_KEY != first.SECRET_KEY  # rotating SECRET_KEY keeps pseudonyms
    assert reload_settings().ICELAB_PSEUDONYM_KEY == first.ICELAB_PSEUDONYM_KEY


def test_the_key_can_come_from_the_environment_or_a_file(reload_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("ICELAB_PSEUDONYM_KEY", "from-the-environment-0123456789")
    assert reload_settings().ICELAB_PSEUDONYM_KEY == "from-the-environment-0123456789"
    monkeypatch.delenv("ICELAB_PSEUDONYM_KEY")
    secret = tmp_path / "pseudonym_key"
    secret.write_text("from-a-mounted-file-0123456789\n")
    monkeypatch.setenv("ICELAB_PSEUDONYM_KEY_FILE", str(secret))
    assert reload_settings().ICELAB_PSEUDONYM_KEY == "from-a-mounted-file-0123456789"
