"""Jobs moved from the explainers app with their rows: migrating an old database keeps every job."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OLD = [("explainers", "0001_initial"), ("jobs", None)]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_rows_and_admin_history_of_jobs_made_before_the_move():
    old_apps = _migrate(OLD)
    OldJob = old_apps.get_model("explainers", "Job")
    old_type, _ = ContentType.objects.get_or_create(app_label="explainers", model="job")
    ContentType.objects.filter(app_label="jobs", model="job").delete()
    done = OldJob.objects.create(
        kind="fit_explainers",
        params={"scenario": 1, "reducer": "nmf"},
        idempotency_key="a" * 64,
        status="succeeded",
        progress=100,
        result={"runs": [1, 2]},
        attempts=1,
    )
    queued = OldJob.objects.create(kind="ping", params={}, idempotency_key="b" * 64)
    try:
        new_apps = _migrate(_latest())
        Job = new_apps.get_model("jobs", "Job")
        moved = {job.pk: job for job in Job.objects.all()}
        assert set(moved) == {done.pk, queued.pk}
        assert moved[done.pk].result == {"runs": [1, 2]} and moved[done.pk].status == "succeeded"
        assert moved[queued.pk].status == "queued" and moved[queued.pk].worker == ""
        assert "jobs_job" in connection.introspection.table_names()
        assert "explainers_job" not in connection.introspection.table_names()
        # Permissions and admin log entries hang on the content type, which moved with the model.
        assert ContentType.objects.get(pk=old_type.pk).app_label == "jobs"
    finally:
        _migrate(_latest())
        ContentType.objects.clear_cache()
