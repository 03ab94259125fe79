"""Which job kinds exist, who runs them and on which queue.

Apps register their kinds from ``AppConfig.ready()``::

    register("fit_explainers", fit_explainers_job, queue=GPU)

A handler takes ``(params, progress)`` and returns a JSON-ready dict; ``progress`` is
the one protocol every long service speaks: ``progress(fraction, step)``. A handler
may instead return :func:`jobs.fanout.fan_out` ``(units, child_kind)``: each unit runs
as a child job of ``child_kind`` on any worker, and the kind's ``combine(params,
results)`` turns the units' results into the job's own once they are all done::

    register("fit_explainers", fit_explainers, queue=GPU, combine=fit_explainers_combine)
    register("fit_explainer", fit_explainer, queue=GPU)  # one (class, reducer) unit
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .progress import Progress

Handler = Callable[[dict[str, Any], Progress], Any]  # a dict, or jobs.fanout.FanOut
Combine = Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]]

DEFAULT = "default"  # CPU work: Celery's default queue
GPU = "gpu"  # torch work: the queue GPU workers consume (ICELAB_GPU_QUEUE)
ROUTES = (DEFAULT, GPU)


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    route: str = DEFAULT
    combine: Combine | None = None

    @property
    def queue(self) -> str:
        """The Celery queue this kind is sent to under the current settings."""
        return (
            settings.ICELAB_GPU_QUEUE if self.route == GPU else settings.CELERY_TASK_DEFAULT_QUEUE
        )


_KINDS: dict[str, JobKind] = {}


def register(
    name: str, handler: Handler, *, queue: str = DEFAULT, combine: Combine | None = None
) -> JobKind:
    """Make job kind ``name`` known; registering the same handler again is harmless.

    ``combine(params, results)`` is for kinds whose handler fans out: it receives the
    units' results in unit order and returns the job's result (default: the results
    as ``{"units": results}``).
    """
    if queue not in ROUTES:
        raise ImproperlyConfigured(f"job kind {name!r}: queue={queue!r}; use one of {ROUTES}.")
    existing = _KINDS.get(name)
    if existing is not None and existing.handler is not handler:
        raise ImproperlyConfigured(
            f"job kind {name!r} is registered twice with different handlers."
        )
    kind = _KINDS[name] = JobKind(name, handler, queue, combine)
    return kind


def job_kind(name: str) -> JobKind | None:
    return _KINDS.get(name)


def job_kind_names() -> list[str]:
    return sorted(_KINDS)
