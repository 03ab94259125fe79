"""Typed readers for settings that come from the environment.

Each helper raises ``ImproperlyConfigured`` naming the variable, so a typo in a
deployment fails at start-up with a message that says what to fix.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of 1/0, true/false, yes/no."
    )


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envsecret(name: str, default: str = "") -> str:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (as container platforms mount them).

    Giving both is refused, so a deployment never silently uses the one it did not mean.
    """
    file_name = os.environ.get(f"{name}_FILE", "")
    if not file_name:
        return os.environ.get(name, default)
    if os.environ.get(name):
        raise ImproperlyConfigured(f"Both {name} and {name}_FILE are set; keep only one of them.")
    try:
        return Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ImproperlyConfigured(
            f"{name}_FILE={file_name!r} cannot be read ({error.strerror}); give the path of a "
            f"readable file holding the {name}."
        ) from None


def kept_secret(path: Path) -> str:
    """The secret stored at ``path``, generated there (mode 0600) the first time.

    For a machine with no DJANGO_SECRET_KEY: sessions and signed tokens stay valid across
    restarts, and the key never appears in the environment, a log or the repository.
    """
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(key + "\n")
    try:
        os.link(tmp, path)  # fails if another process made the file first: then its key wins
    except FileExistsError:
        key = path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key
