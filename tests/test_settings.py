import importlib
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env


def test_it_reads_booleans(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env.envbool("X_FLAG", "0") is True
    monkeypatch.setenv("X_FLAG", "off")
    assert env.envbool("X_FLAG", "1") is False


def test_it_names_the_variable_on_a_bad_boolean(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env.envbool("X_FLAG", "0")


def test_it_names_the_variable_on_a_bad_integer(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUM"):
        env.envint("X_NUM", "1")


def test_it_splits_lists(monkeypatch):
    monkeypatch.setenv("X_LIST", " a.example, b.example ,")
    assert env.envlist("X_LIST", "") == ["a.example", "b.example"]


def test_it_refuses_to_start_without_a_secret_key_outside_debug(monkeypatch):
    import config.settings as settings_module

    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    try:
        with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
            importlib.reload(settings_module)
    finally:
        monkeypatch.setenv("DJANGO_SECRET_KEY", os.environ.get("DJANGO_SECRET_KEY", "x") or "x")
        importlib.reload(settings_module)


def test_it_reads_the_database_from_database_url(monkeypatch):
    import config.settings as settings_module

    monkeypatch.setenv("DATABASE_URL", "postgres://u@127.0.0.1:5432/icelab")
    try:
        reloaded = importlib.reload(settings_module)
        assert reloaded.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        assert reloaded.DATABASES["default"]["NAME"] == "icelab"
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


def test_word_vectors_default_to_the_bundled_glove_subset(monkeypatch):
    import config.settings as settings_module

    monkeypatch.delenv("ICELAB_WORD_VECTORS", raising=False)
    assert importlib.reload(settings_module).ICELAB_WORD_VECTORS == "bundled"
    monkeypatch.setenv("ICELAB_WORD_VECTORS", "/data/glove.6B.300d.txt")
    try:
        assert importlib.reload(settings_module).ICELAB_WORD_VECTORS == "/data/glove.6B.300d.txt"
    finally:
        monkeypatch.delenv("ICELAB_WORD_VECTORS")
        importlib.reload(settings_module)
