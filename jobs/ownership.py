"""Which process runs a job, and whether that process is gone.

A worker is named ``host:pid:token``; the token is random per process, so a restarted
server that gets its old pid back (pid 1 in a container) is still a different worker.
A running job's owner is gone when it was this host and its process no longer exists
(or is an earlier incarnation of this very process), or, from any host, when its
heartbeat is older than ``ICELAB_JOB_STALE_SECONDS``.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

HOST = socket.gethostname()
_NAMES: dict[int, str] = {}


def this_worker() -> str:
    """This process's worker name; computed per pid, since prefork workers fork after import."""
    pid = os.getpid()
    if pid not in _NAMES:
        _NAMES.clear()
        _NAMES[pid] = f"{HOST}:{pid}:{uuid.uuid4().hex[:8]}"
    return _NAMES[pid]


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_is_gone(job) -> bool:
    """True when the process that claimed running ``job`` cannot still be running it."""
    host, _, rest = job.worker.partition(":")
    pid_text, _, token = rest.partition(":")
    if job.worker == this_worker():
        return False
    if host == HOST and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid() or not _process_exists(pid):
            return True  # our own pid with another token is an earlier life of this process
    beat = job.heartbeat_at or job.started_at
    stale = timedelta(seconds=settings.ICELAB_JOB_STALE_SECONDS)
    return beat is None or timezone.now() - beat > stale
