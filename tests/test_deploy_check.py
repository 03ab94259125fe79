"""`manage.py check --deploy` with a production environment: no warning at all."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def check_deploy(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "ICELAB_HOME": str(tmp_path / "home"),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "icelab.example.org",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_with_the_production_environment(tmp_path):
    # CACHE_URL is only read here, not connected to: the check needs no Redis.
    result = check_deploy(tmp_path, ICELAB_HTTPS="1", CACHE_URL="redis://127.0.0.1:6379/12")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_https_and_a_shared_cache_it_says_what_is_missing(tmp_path):
    result = check_deploy(tmp_path)
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr
    assert "icelab.W001" in result.stderr and "CACHE_URL" in result.stderr


def test_each_https_setting_can_be_switched_off_on_its_own(tmp_path):
    result = check_deploy(
        tmp_path,
        ICELAB_HTTPS="1",
        CACHE_URL="redis://127.0.0.1:6379/12",
        DJANGO_SECURE_HSTS_PRELOAD="0",
    )
    assert result.returncode != 0 and "security.W021" in result.stderr
