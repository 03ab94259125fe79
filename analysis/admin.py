"""Reports in the researcher's admin: a "Build report" action on studies and each study's
reports page (stored reports with download links, report jobs, a button that queues one).

The study admin belongs to ``studies``, which knows nothing of reports: dependencies point
one way (analysis uses studies, never the reverse). So this module extends it here and
registers the extension in its place. Django's admin autodiscovery imports ``admin``
modules in ``INSTALLED_APPS`` order, and ``analysis`` comes after ``studies``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from icelab.errors import error_message
from jobs.models import Job
from studies.admin import StudyAdmin
from studies.models import Study

from .selectors import study_report_jobs, study_reports
from .services import study_report_submit


class StudyWithReportsAdmin(StudyAdmin):
    list_display = [*StudyAdmin.list_display, "reports_link"]
    actions = [*StudyAdmin.actions, "build_report"]

    @admin.display(description="reports")
    def reports_link(self, study: Study):
        return format_html(
            '<a href="{}">reports</a>', reverse("admin:studies_study_reports", args=[study.pk])
        )

    @admin.action(description="Build a report of the selected studies (background job)")
    def build_report(self, request: HttpRequest, queryset) -> None:
        for study in queryset:
            try:
                job = study_report_submit(study=study)
            except ValidationError as error:
                self.message_user(request, f"{study.slug}: {error_message(error)}", messages.ERROR)
                continue
            url = reverse("admin:studies_study_reports", args=[study.pk])
            self.message_user(
                request,
                format_html(
                    '{}: report job {} queued; <a href="{}">follow it</a>.', study.slug, job.pk, url
                ),
                messages.SUCCESS,
            )

    def get_urls(self):
        # The page is the study's (its URL sits beside the study's own admin pages).
        reports = path(
            "<int:pk>/reports/",
            self.admin_site.admin_view(self.reports_view),
            name="studies_study_reports",
        )
        return [reports, *super().get_urls()]

    def reports_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        study = get_object_or_404(Study, pk=pk)
        if not self.has_view_permission(request, study):
            return HttpResponse(status=403)
        if request.method == "POST":
            if not self.has_change_permission(request, study):
                return HttpResponse(status=403)
            try:
                job = study_report_submit(study=study)
                self.message_user(request, f"Report job {job.pk} queued.", messages.SUCCESS)
            except ValidationError as error:
                self.message_user(request, error_message(error), messages.ERROR)
            return HttpResponseRedirect(request.path)
        jobs = study_report_jobs(study=study)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "study": study,
            "title": f"Reports of {study.slug}",
            "reports": study_reports(study=study),
            "jobs": jobs,
            # The page refreshes itself while a report is being built, so progress moves.
            "auto_refresh": any(job.status in Job.ACTIVE for job in jobs),
        }
        return TemplateResponse(request, "admin/analysis/study_reports.html", context)


admin.site.unregister(Study)
admin.site.register(Study, StudyWithReportsAdmin)
