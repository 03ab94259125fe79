"""How long-running core functions report progress: ``progress(fraction, step)``.

``fraction`` is in [0, 1] and ``step`` says what is being done. It is the one protocol
of the whole project: the Django side's jobs write it to a job's row and its commands
draw it as a bar, so a service hands its ``progress`` straight down to the core.
Nested work reports through :func:`scaled`, so an inner function need not know where it
sits in the whole.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def report(progress: Progress | None, fraction: float, step: str) -> None:
    """Call ``progress`` (when given) with ``fraction`` clipped to [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), step)


def report_count(progress: Progress | None, done: int, total: int | None, what: str) -> None:
    """Report ``done`` of ``total`` items as ``"<what> done/total"`` (an unknown total reports 0)."""
    if progress is not None:
        fraction = done / total if total else 0.0
        report(progress, fraction, f"{what} {done}/{total}" if total else f"{what} {done}")


def scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A reporter whose [0, 1] maps onto [start, end] of ``progress``."""
    if progress is None:
        return None

    def inner(fraction: float, step: str) -> None:
        report(progress, start + (end - start) * fraction, step)

    return inner
