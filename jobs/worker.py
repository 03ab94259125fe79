"""The embedded default's worker: one daemon thread per process runs jobs in submission order."""

from __future__ import annotations

import logging
import queue
import threading
import time

from django.db import connections

logger = logging.getLogger(__name__)


class LocalWorker:
    """Runs queued job ids on a background thread, so the request that queued them returns at once."""

    def __init__(self) -> None:
        self._queue: queue.Queue[int] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def enqueue(self, job_id: int) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="icelab-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job_id)

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every queued job has run (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _loop(self) -> None:
        from .services import job_run

        while True:
            job_id = self._queue.get()
            try:
                job_run(job_id)
            except Exception:  # a database error must not kill the worker thread
                logger.exception("local worker could not run job %s", job_id)
            finally:
                connections.close_all()
                self._queue.task_done()


_WORKER = LocalWorker()


def local_worker() -> LocalWorker:
    return _WORKER
