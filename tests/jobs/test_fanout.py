"""Fan-out in one process: units run as child jobs, progress adds up, the parent ends once, reruns add nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError

from jobs import services as jobs
from jobs.fanout import fan_out
from jobs.models import Job
from jobs.ownership import HOST
from jobs.worker import local_worker
from tests.jobs import fanout_kinds

PARENT, UNIT = fanout_kinds.PARENT, fanout_kinds.UNIT


@pytest.fixture
def dispatched(monkeypatch) -> list[int]:
    """Job ids handed to a worker, in order, instead of running them (tests run them by hand)."""
    handed: list[int] = []
    monkeypatch.setattr(jobs, "job_dispatch", lambda *, job: handed.append(job.pk))
    return handed


def _run_all(handed: list[int]) -> None:
    """Run dispatched jobs one after another, as a single worker would, until none is left."""
    while handed:
        jobs.job_run(handed.pop(0))


def _squares(tmp_path, units: int, **options) -> Job:
    return jobs.job_submit(kind=PARENT, params={"out": str(tmp_path), "units": units, **options})


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_local_worker_runs_the_units_then_combines(tmp_path, settings):
    settings.CELERY_BROKER_URL = ""
    parent = _squares(tmp_path, 5)
    assert local_worker().wait(timeout=60)
    parent.refresh_from_db()
    assert parent.status == Job.Status.SUCCEEDED, (parent.step, parent.error)
    assert parent.result == {"sum_of_squares": 0 + 1 + 4 + 9 + 16, "units": 5}
    assert parent.progress == 100
    children = Job.objects.filter(parent=parent)
    assert sorted(children.values_list("params__n", flat=True)) == [0, 1, 2, 3, 4]
    assert set(children.values_list("status", flat=True)) == {Job.Status.SUCCEEDED}
    assert sorted(p.name for p in tmp_path.glob("square-*.json")) == [
        f"square-{n}.json" for n in range(5)
    ]


def test_the_parent_waits_with_the_mean_progress_of_its_units(db, tmp_path, dispatched):
    parent = _squares(tmp_path, 4)
    parent = jobs.job_run(parent.pk)
    assert parent.status == Job.Status.WAITING
    assert parent.step == "waiting for its units: 0 of 4 done"
    children = list(Job.objects.filter(parent=parent).order_by("pk"))
    assert dispatched == [child.pk for child in children]  # the units, not the parent

    jobs.job_run(children[0].pk)  # 100 %
    parent.refresh_from_db()
    assert parent.progress == 25.0  # counted as the unit ends, not only as units report
    from jobs.progress import JobProgress

    JobProgress(children[1].pk, parent_id=parent.pk)(0.5, "half")  # 50 %
    parent.refresh_from_db()
    assert parent.progress == pytest.approx((100 + 50 + 0 + 0) / 4)
    assert parent.step == "waiting for its units: 1 of 4 done"


def test_the_last_unit_wakes_the_parent_once_and_it_combines(db, tmp_path, dispatched):
    parent = _squares(tmp_path, 3)
    jobs.job_run(parent.pk)
    children = [dispatched.pop(0) for _ in range(3)]
    for child in children:
        jobs.job_run(child)
    assert dispatched == [parent.pk]  # woken by the last unit only
    parent = jobs.job_run(dispatched.pop())
    assert parent.status == Job.Status.SUCCEEDED
    assert parent.result == {"sum_of_squares": 5, "units": 3} and parent.progress == 100


def test_running_the_parent_or_a_unit_again_adds_nothing(db, tmp_path, dispatched):
    parent = _squares(tmp_path, 3)
    jobs.job_run(parent.pk)
    _run_all(dispatched)
    assert Job.objects.get(pk=parent.pk).status == Job.Status.SUCCEEDED
    # A redelivered message for any of them finds the work done and leaves it alone.
    for job in Job.objects.filter(pk=parent.pk) | Job.objects.filter(parent=parent):
        again = jobs.job_run(job.pk)
        assert again.status == Job.Status.SUCCEEDED and again.attempts == 1
    assert Job.objects.filter(parent=parent).count() == 3
    starts = (tmp_path / "starts.log").read_text().split()
    assert sorted(starts[0::2]) == ["0", "1", "2"]  # each unit ran once
    assert dispatched == []


def test_a_unit_whose_worker_died_is_taken_over_and_leaves_one_whole_file(db, tmp_path, dispatched):
    died = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    parent = _squares(tmp_path, 2)
    jobs.job_run(parent.pk)
    first, second = dispatched
    dispatched.clear()
    # The first unit's worker died mid-way: it left the row running and a hidden temp file.
    Job.objects.filter(pk=first).update(
        status=Job.Status.RUNNING, attempts=1, worker=f"{HOST}:{int(died.stdout)}:deadbeef"
    )
    (tmp_path / f".square-0.json.{int(died.stdout)}-abcd.tmp").write_text('{"n": 0, "squ')
    jobs.job_run(second)
    assert dispatched == []  # the parent still waits for the first unit
    unit = jobs.job_run(first)  # the redelivered message
    assert unit.status == Job.Status.SUCCEEDED and unit.attempts == 2
    assert json.loads((tmp_path / "square-0.json").read_text())["square"] == 0
    assert dispatched == [parent.pk]
    assert jobs.job_run(parent.pk).result == {"sum_of_squares": 1, "units": 2}


def test_failed_units_fail_the_parent_with_their_reasons_and_retry_reruns_only_them(
    db, tmp_path, dispatched, django_capture_on_commit_callbacks
):
    parent = _squares(tmp_path, 3, fail=[1])
    jobs.job_run(parent.pk)
    _run_all(dispatched)
    parent.refresh_from_db()
    assert parent.status == Job.Status.FAILED
    assert parent.error.startswith("1 of 3 units failed; fix the cause and retry this job")
    assert '"n": 1' in parent.error and "unit 1 broke" in parent.error
    assert "Traceback" not in parent.error  # the unit keeps its own traceback
    assert "Traceback" in Job.objects.get(parent=parent, params__n=1).error

    (tmp_path / "mended").touch()
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_retry(job=parent)
    _run_all(dispatched)
    parent.refresh_from_db()
    assert parent.status == Job.Status.SUCCEEDED and parent.result["sum_of_squares"] == 5
    starts = (tmp_path / "starts.log").read_text().split()[0::2]
    assert sorted(starts) == ["0", "1", "1", "2"]  # only the failed unit ran again


def test_recovery_wakes_a_parent_whose_last_unit_ended_without_waking_it(db, tmp_path, dispatched):
    parent = _squares(tmp_path, 1)
    jobs.job_run(parent.pk)
    (child,) = Job.objects.filter(parent=parent)
    Job.objects.filter(pk=child.pk).update(status=Job.Status.SUCCEEDED, result={"square": 0})
    dispatched.clear()
    assert jobs.job_recover()["woken"] == [parent.pk]
    assert dispatched == [parent.pk]
    assert jobs.job_run(parent.pk).status == Job.Status.SUCCEEDED


def test_bad_units_are_refused(db):
    with pytest.raises(ValidationError, match="not registered"):
        fan_out([{"n": 1}], child_kind="no_such_kind")
    with pytest.raises(ValidationError, match="listed twice"):
        fan_out([{"n": 1}, {"n": 1}], child_kind=UNIT)
    with pytest.raises(ValidationError, match="must be a dict"):
        fan_out([1, 2], child_kind=UNIT)
