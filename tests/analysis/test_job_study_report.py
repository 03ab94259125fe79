"""The study_report job kind: registered by the analysis app, run by the local worker."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from analysis.services import study_report_submit
from jobs.models import Job
from jobs.registry import DEFAULT, job_kind
from jobs.worker import local_worker


def test_the_kind_is_registered_on_the_default_cpu_route(db):
    kind = job_kind("study_report")
    assert kind is not None and kind.route == DEFAULT


@pytest.mark.django_db(transaction=True)
def test_the_local_worker_builds_and_stores_the_report(taken_study, media_root, settings):
    settings.CELERY_BROKER_URL = ""
    job = study_report_submit(study=taken_study)
    assert study_report_submit(study=taken_study).pk == job.pk  # same work while queued
    assert local_worker().wait(timeout=240)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.progress == 100
    assert job.result["study"] == "taken" and "data so far" in job.result["notes"][0]
    for stored in job.result["files"].values():
        assert default_storage.exists(stored)


def test_a_study_without_participants_is_refused_before_queueing(make_study):
    study = make_study(slug="nobody")
    with pytest.raises(ValidationError, match="no participants yet"):
        study_report_submit(study=study)
    assert not Job.objects.exists()
