"""A background job: what to run, where it stands, and what came of it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Job(models.Model):
    """Background work (fit, sweep, build, report, sync) with its progress, result or error."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # A fan-out parent whose units run as child jobs; it runs again when the last one ends.
        WAITING = "waiting", "Waiting for its units"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.WAITING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        help_text="The fan-out job this job is one unit of.",
    )
    kind = models.CharField(max_length=50)
    params = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=64, db_index=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Percent done.")
    step = models.CharField(max_length=300, blank=True, help_text="What the job is doing now.")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    worker = models.CharField(
        max_length=200,
        blank=True,
        help_text="host:pid of the process running it (or that last ran it).",
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the process running it."
    )
    sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it was last handed to a worker (empty: the job broker could not be reached).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The same work cannot be queued twice at once; submitting it again returns the active job.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(status__in=["queued", "running", "waiting"]),
                name="one_active_job_per_key",
            ),
            # A parent run again (redelivered, recovered, retried) finds its units instead of adding them.
            models.UniqueConstraint(
                fields=["parent", "idempotency_key"],
                condition=Q(parent__isnull=False),
                name="one_child_per_unit",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=100), name="job_progress_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
