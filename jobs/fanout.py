"""Fan-out: a job whose units of work run as child jobs, on any number of workers and machines.

A handler fans out by returning ``fan_out(units, child_kind)``: one child
:class:`~jobs.models.Job` per unit (a JSON dict, the child's params), each queued,
claimed, heartbeated, retried and recovered like any job, so a unit whose worker dies
is taken over by another worker. The parent then *waits* (status ``waiting``, no
worker held) while its progress is the mean of its units'. When the last unit ends,
the parent is queued again; its handler runs again and fans out the same units, which
now exist and are done, so the kind's ``combine`` turns their results into the parent's
(or the parent fails, naming the units that failed and why).

Why children are jobs and not a lighter record: a unit needs everything a job has
(atomic claim, heartbeat, attempts, recovery, an error with its traceback, retry from
the admin), and a unit is seconds to minutes of work, so one row per unit costs nothing.

Idempotency: a unit's row is keyed by (parent, hash of kind and params) under a unique
constraint, so running the parent again never adds a unit twice; a unit is claimed by
one conditional update, so a redelivered message never runs it twice at once; and the
unit handlers are idempotent services (get-or-create rows, files written whole and
renamed), so a unit redone after its worker was killed mid-way leaves one result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Avg
from django.utils import timezone

from icelab.errors import ServiceError

from .models import Job
from .registry import job_kind

# How many failed units a parent's error lists before it says "and N more".
_FAILED_UNITS_SHOWN = 10


@dataclass(frozen=True)
class FanOut:
    """What a fanning-out handler returns: the units to run as ``child_kind`` jobs."""

    child_kind: str
    units: tuple[dict[str, Any], ...]


class UnitsFailed(ServiceError):
    """Some units of a fan-out ended failed; the message names them and their errors."""


def fan_out(units: list[dict[str, Any]], child_kind: str) -> FanOut:
    """Declare that the job's work is ``units``, each run as a job of kind ``child_kind``.

    Units must be JSON dicts and distinct (a duplicate would be the same child twice).
    """
    if job_kind(child_kind) is None:
        raise ServiceError(f"fan_out: child kind {child_kind!r} is not registered.")
    try:
        units = json.loads(json.dumps(list(units)))
    except (TypeError, ValueError) as error:
        raise ServiceError(f"fan_out: units must be JSON: {error}") from error
    if not all(isinstance(unit, dict) for unit in units):
        raise ServiceError("fan_out: every unit must be a dict (the child job's params).")
    keys = [unit_key(child_kind, unit) for unit in units]
    if len(set(keys)) != len(keys):
        raise ServiceError("fan_out: the same unit is listed twice; list each unit once.")
    return FanOut(child_kind, tuple(units))


def unit_key(child_kind: str, unit: dict[str, Any]) -> str:
    """The idempotency key of a unit under its parent (unique per parent by a constraint)."""
    return hashlib.sha256(
        json.dumps(["unit", child_kind, unit], sort_keys=True).encode()
    ).hexdigest()


def fan_out_start(parent: Job, fan: FanOut, *, worker: str) -> tuple[list[Job], list[Job]]:
    """Create the missing units of ``parent``; put it to waiting while some are not done.

    Returns (the children in unit order, the queued ones to dispatch). The parent row is
    locked first: a unit that ends meanwhile wakes the parent only once it is waiting
    (:func:`parent_wake`), so the last unit's end is never missed. Callers dispatch the
    queued children after the commit.
    """
    with transaction.atomic():
        Job.objects.select_for_update().filter(pk=parent.pk).first()
        existing = {child.idempotency_key: child for child in parent.children.all()}
        children = []
        for unit in fan.units:
            key = unit_key(fan.child_kind, unit)
            child = existing.get(key)
            if child is None:
                child = Job.objects.create(
                    parent=parent, kind=fan.child_kind, params=unit, idempotency_key=key
                )
            children.append(child)
        pending = [child for child in children if child.status in Job.ACTIVE]
        if pending:
            Job.objects.filter(pk=parent.pk, status=Job.Status.RUNNING, worker=worker).update(
                status=Job.Status.WAITING,
                step=_waiting_step(len(children) - len(pending), len(children)),
                progress=_mean_progress(parent.pk),
                heartbeat_at=timezone.now(),
            )
    queued = [child for child in children if child.status == Job.Status.QUEUED]
    return children, queued


def fan_out_result(parent: Job, children: list[Job], combine: Callable | None) -> dict[str, Any]:
    """The parent's result once every unit is done; raises :class:`UnitsFailed` if some failed."""
    failed = [child for child in children if child.status == Job.Status.FAILED]
    if failed:
        lines = [
            f"unit #{child.pk} {json.dumps(child.params, sort_keys=True)}: {child.step or child.error[-300:]}"
            for child in failed[:_FAILED_UNITS_SHOWN]
        ]
        if len(failed) > _FAILED_UNITS_SHOWN:
            lines.append(f"... and {len(failed) - _FAILED_UNITS_SHOWN} more")
        raise UnitsFailed(
            f"{len(failed)} of {len(children)} units failed; fix the cause and retry this job "
            "(it runs the failed units again and reuses the rest):\n" + "\n".join(lines)
        )
    results = [child.result for child in children]
    return combine(parent.params, results) if combine else {"units": results}


def parent_progress_refresh(parent_id: int) -> None:
    """A waiting parent's progress is the mean of its units' (each in percent)."""
    Job.objects.filter(pk=parent_id, status=Job.Status.WAITING).update(
        progress=_mean_progress(parent_id), heartbeat_at=timezone.now()
    )


def parent_wake(parent_id: int) -> bool:
    """After a unit ended: queue the waiting parent again if no unit is left; True if this did.

    The conditional update lets exactly one of the units that end together wake it.
    Attempts start again from 0: they count the runs of the combining phase.
    """
    children = Job.objects.filter(parent_id=parent_id)
    done = children.filter(status__in=Job.FINISHED).count()
    total = children.count()
    if done < total:
        Job.objects.filter(pk=parent_id, status=Job.Status.WAITING).update(
            step=_waiting_step(done, total), progress=_mean_progress(parent_id)
        )
        return False
    return bool(
        Job.objects.filter(pk=parent_id, status=Job.Status.WAITING).update(
            status=Job.Status.QUEUED,
            attempts=0,
            progress=_mean_progress(parent_id),
            step=f"all {total} units ended; queued to combine their results",
        )
    )


def parents_to_wake() -> list[int]:
    """Waiting parents none of whose units is active (a wake-up lost with a dying process)."""
    active_children = Job.objects.filter(status__in=Job.ACTIVE, parent__isnull=False)
    return list(
        Job.objects.filter(status=Job.Status.WAITING)
        .exclude(pk__in=active_children.values("parent_id"))
        .values_list("pk", flat=True)
    )


def _mean_progress(parent_id: int) -> float:
    mean = Job.objects.filter(parent_id=parent_id).aggregate(mean=Avg("progress"))["mean"]
    return min(round(float(mean or 0.0), 1), 100.0)


def _waiting_step(done: int, total: int) -> str:
    return f"waiting for its units: {done} of {total} done"
