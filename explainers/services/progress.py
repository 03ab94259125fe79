"""How long-running services report progress: ``progress(fraction, step)``.

``fraction`` is in [0, 1] and ``step`` says what is being done. The admin turns it
into a percentage on the job, a command into a progress bar. Nested work reports
through :func:`scaled`, so an inner service need not know where it sits in the whole.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def report(progress: Progress | None, fraction: float, step: str) -> None:
    """Call ``progress`` (when given) with ``fraction`` clipped to [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), step)


def scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A reporter whose [0, 1] maps onto [start, end] of ``progress``."""
    if progress is None:
        return None

    def inner(fraction: float, step: str) -> None:
        report(progress, start + (end - start) * fraction, step)

    return inner
