"""Recovering jobs left behind by a dead process, once per process, on its first request."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

_DONE = threading.Event()
_LOCK = threading.Lock()


def recover_on_first_request(**kwargs) -> None:
    """``request_started`` receiver: run :func:`jobs.services.job_recover` once in this process."""
    if _DONE.is_set():
        return
    with _LOCK:
        if _DONE.is_set():
            return
        _DONE.set()
        from django.db import DatabaseError

        from .services import job_recover

        try:
            outcome = job_recover()
        except DatabaseError:  # e.g. not migrated yet: the next process tries again
            logger.warning("jobs: could not look for jobs left behind", exc_info=True)
            return
        if any(outcome.values()):
            logger.info("jobs left behind by a stopped process: %s", outcome)
