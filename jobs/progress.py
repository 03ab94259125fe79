"""The progress protocol of the Django side: ``progress(fraction, step)``.

``fraction`` is in [0, 1], ``step`` says what is being done. A job turns it into a
percentage on its row (:class:`JobProgress`), a command into a progress bar. The
framework-free core speaks the same protocol (``explainers.ice.progress``, which also
has the ``report``/``scaled`` helpers services use), so a service hands its
``progress`` straight down to the core.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.utils import timezone

Progress = Callable[[float, str], None]


class JobProgress:
    """Writes ``progress(fraction, step)`` to a job's row, at most every ``interval`` seconds.

    Each write also refreshes the job's heartbeat, which is how a crashed worker's job is
    told apart from a slow one. A unit of a fan-out (``parent_id``) also refreshes its
    parent's progress, the mean of its units'.
    """

    def __init__(self, job_id: int, interval: float = 0.5, *, parent_id: int | None = None) -> None:
        self.job_id = job_id
        self.parent_id = parent_id
        self.interval = interval
        self._last = float("-inf")

    def __call__(self, fraction: float, step: str) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and fraction < 1.0:
            return
        self._last = now
        from .models import Job

        percent = round(100.0 * min(max(float(fraction), 0.0), 1.0), 1)
        Job.objects.filter(pk=self.job_id).update(
            progress=percent, step=step[:300], heartbeat_at=timezone.now()
        )
        if self.parent_id is not None:  # a unit of a fan-out: the parent shows the units' mean
            from .fanout import parent_progress_refresh

            parent_progress_refresh(self.parent_id)
