"""Writing files so that a reader never sees half of one: a temporary sibling, then a rename.

Every file the project writes outside Django's storage (checkpoints, fitted reducers,
dataset metadata, manifests, benchmark results) goes through :func:`atomic_file`: on
success the new file replaces the old one in one ``os.replace``; on any error,
KeyboardInterrupt included, the temporary file is removed and the old file is untouched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_file(
    path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None
) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; it becomes ``path`` when the block ends.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8 unless ``encoding`` says otherwise).
    Parent folders are created. The file is flushed to disk before the rename, so a
    crash right after leaves either the old file or the whole new one.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode={mode!r}; atomic files are written whole, with 'wb' or 'w'.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    # 0o666 lets the umask decide the permissions, as for any new file (mkstemp forces 0o600).
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        text_encoding = (encoding or "utf-8") if mode == "w" else None
        with os.fdopen(handle, mode, encoding=text_encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_file(path, "w") as stream:
        stream.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_file(path, "wb") as stream:
        stream.write(data)
    return Path(path)
