import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parents[1]


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


def test_without_a_key_it_generates_one_once_and_keeps_it_private(tmp_path):
    path = tmp_path / "home" / "secret_key"
    key = env.kept_secret(path)
    assert len(key) >= 50 and env.kept_secret(path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("from-a-file\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "key"))
    assert env.envsecret("X_SECRET") == "from-a-file"


def test_a_secret_given_twice_or_unreadable_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE=.*cannot be read"):
        env.envsecret("X_SECRET")
    monkeypatch.setenv("X_SECRET", "inline")
    with pytest.raises(ImproperlyConfigured, match="Both X_SECRET and X_SECRET_FILE"):
        env.envsecret("X_SECRET")


def test_manage_py_needs_no_environment_at_all(tmp_path):
    # As a newcomer runs it: nothing set but PATH, DEBUG off, the key made in ICELAB_HOME.
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "ICELAB_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "home" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in result.stdout + result.stderr


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


HTTPS_VARIABLES = [
    "ICELAB_HTTPS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SESSION_COOKIE_SECURE",
    "DJANGO_CSRF_COOKIE_SECURE",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
    "DJANGO_SECURE_PROXY_SSL_HEADER",
    "CACHE_URL",
]


def reloaded_with(monkeypatch, **variables):
    import config.settings as settings_module

    for name in HTTPS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(settings_module)


def test_https_is_off_by_default_so_the_demo_works_over_http(monkeypatch):
    try:
        s = reloaded_with(monkeypatch)
        assert not (s.SECURE_SSL_REDIRECT or s.SESSION_COOKIE_SECURE or s.CSRF_COOKIE_SECURE)
        assert s.SECURE_HSTS_SECONDS == 0 and s.SECURE_PROXY_SSL_HEADER is None
        assert s.CACHES["default"]["BACKEND"].endswith("LocMemCache")
    finally:
        monkeypatch.undo()
        importlib.reload(importlib.import_module("config.settings"))


def test_one_switch_turns_on_https_and_each_part_can_be_overridden(monkeypatch):
    try:
        s = reloaded_with(
            monkeypatch,
            ICELAB_HTTPS="1",
            DJANGO_SECURE_HSTS_SECONDS="300",
            DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
            CACHE_URL="redis://127.0.0.1:6379/12",
        )
        assert s.SECURE_SSL_REDIRECT and s.SESSION_COOKIE_SECURE and s.CSRF_COOKIE_SECURE
        assert s.SECURE_HSTS_SECONDS == 300
        assert s.SECURE_HSTS_INCLUDE_SUBDOMAINS and s.SECURE_HSTS_PRELOAD
        assert s.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
        assert s.CACHES["default"] == {
            "BACKEND": "icelab.cache.RedisCacheWithLocalFallback",
            "LOCATION": "redis://127.0.0.1:6379/12",
        }
    finally:
        monkeypatch.undo()
        importlib.reload(importlib.import_module("config.settings"))
