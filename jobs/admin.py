"""Admin for background jobs: progress, errors, and retrying a failed job."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from icelab.errors import error_message

from .models import Job
from .services import job_abandon, job_retry


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "progress_bar",
        "step",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    actions = ["retry", "abandon"]
    fields = [
        "kind",
        "parent",
        "units",
        "params",
        "status",
        "progress_bar",
        "step",
        "attempts",
        "worker",
        "heartbeat_at",
        "sent_at",
        "result",
        "error_text",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # jobs are submitted by the actions on scenarios, runs and stimulus sets

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="progress")
    def progress_bar(self, job: Job):
        return format_html(
            '<progress max="100" value="{}" title="{}%"></progress> {}%',
            job.progress,
            job.progress,
            round(job.progress),
        )

    @admin.display(description="units")
    def units(self, job: Job):
        """A fan-out's units: how many ended, how many failed, and a link to their list."""
        children = job.children.all()
        total = children.count()
        if not total:
            return "—"
        done = children.filter(status__in=Job.FINISHED).count()
        failed = children.filter(status=Job.Status.FAILED).count()
        url = reverse("admin:jobs_job_changelist") + f"?parent__id__exact={job.pk}"
        return format_html('<a href="{}">{} of {} ended, {} failed</a>', url, done, total, failed)

    @admin.display(description="error")
    def error_text(self, job: Job):
        return (
            format_html("<pre style='white-space:pre-wrap'>{}</pre>", job.error)
            if job.error
            else "—"
        )

    @admin.action(description="Retry the selected failed (or stuck queued) jobs")
    def retry(self, request, queryset) -> None:
        for job in queryset:
            try:
                retried = job_retry(job=job)
            except ValidationError as error:
                self.message_user(request, error_message(error), messages.WARNING)
            else:
                self.message_user(request, f"Job {retried.pk} queued again.", messages.SUCCESS)

    @admin.action(description="Mark the selected running jobs as failed (their worker is gone)")
    def abandon(self, request, queryset) -> None:
        for job in queryset:
            try:
                job_abandon(job=job, reason=f"{request.user} found its worker gone")
            except ValidationError as error:
                self.message_user(request, error_message(error), messages.WARNING)
            else:
                self.message_user(
                    request,
                    f"Job {job.pk} marked as failed; retry it when a worker runs.",
                    messages.SUCCESS,
                )

    def changelist_view(self, request, extra_context=None):
        # The list refreshes itself while work is in progress, so progress moves without a click.
        active = Job.objects.filter(status__in=Job.ACTIVE).exists()
        return super().changelist_view(request, {**(extra_context or {}), "auto_refresh": active})
