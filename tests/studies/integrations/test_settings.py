"""The platform settings come from the environment, with the sandbox as the safe default."""

from __future__ import annotations

import importlib

import pytest
from django.core.exceptions import ImproperlyConfigured


@pytest.fixture
def reload_settings(monkeypatch):
    import config.settings as settings_module

    def reload(**environ):
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(settings_module)

    yield reload
    monkeypatch.undo()
    importlib.reload(settings_module)


def test_mturk_defaults_to_the_sandbox_and_prolific_to_no_token(reload_settings, monkeypatch):
    monkeypatch.delenv("MTURK_SANDBOX", raising=False)
    monkeypatch.delenv("PROLIFIC_API_TOKEN", raising=False)
    settings = reload_settings()
    assert settings.MTURK_SANDBOX is True
    assert settings.PROLIFIC_API_TOKEN == ""


def test_they_are_read_from_the_environment(reload_settings):
    settings = reload_settings(MTURK_SANDBOX="0", PROLIFIC_API_TOKEN="tok-abc")
    assert settings.MTURK_SANDBOX is False
    assert settings.PROLIFIC_API_TOKEN == "tok-abc"


def test_a_bad_sandbox_flag_names_the_variable(reload_settings):
    with pytest.raises(ImproperlyConfigured, match="MTURK_SANDBOX"):
        reload_settings(MTURK_SANDBOX="live")
