"""Saving generated files through Django's storage: whole or not at all, with an error that says what to do.

Django's ``FileSystemStorage`` writes a file in place, so a full disk mid-write leaves
a partial file under the final name; for content-addressed stimuli that file would be
taken for the real one forever. :func:`storage_save` removes what a failed save left
and raises a :class:`~icelab.errors.ServiceError` naming the file, the reason and the
fix (free space, make the folder writable), which commands, jobs and the admin show.
"""

from __future__ import annotations

import errno
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .errors import ServiceError

logger = logging.getLogger(__name__)

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def storage_save(name: str, data: bytes) -> str:
    """Save ``data`` as ``name`` in the default storage; returns the name it got.

    On failure nothing is left under the name (unless another process stored the same
    bytes there meanwhile) and a ServiceError says where, why and how to fix it.
    """
    target = default_storage.get_available_name(name)
    try:
        return default_storage.save(target, ContentFile(data))
    except OSError as error:
        storage_discard_partial(target, data)
        raise ServiceError(storage_error_message(target, error)) from error


def storage_discard_partial(name: str, data: bytes | None = None) -> None:
    """Delete ``name`` after a failed write, unless it holds exactly ``data`` (stored by another process)."""
    try:
        if not default_storage.exists(name):
            return
        if data is not None:
            with default_storage.open(name, "rb") as stored:
                if stored.read() == data:
                    return
        default_storage.delete(name)
    except OSError:  # the storage is failing: say so in the log, the caller raises its error
        logger.warning("could not remove the partial file %s", name, exc_info=True)


def storage_error_message(name: str, error: OSError) -> str:
    """What failed, where, and what to do about it."""
    where = _location(name)
    reason = error.strerror or str(error)
    if error.errno in _FULL:
        fix = (
            "free disk space there (or move ICELAB_HOME, where media files live, to a larger "
            "disk) and run it again"
        )
    elif error.errno in _DENIED:
        fix = (
            "make that folder writable by the user ICE Lab runs as (or set ICELAB_HOME to a "
            "writable folder) and run it again"
        )
    else:
        fix = "check the media storage and run it again"
    return f"could not write {where}: {reason}; nothing was kept of it. To fix: {fix}."


def _location(name: str) -> str:
    try:
        return str(default_storage.path(name))
    except NotImplementedError:  # a remote storage has no local path
        return f"{name!r} in the media storage"
