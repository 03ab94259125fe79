"""Small pieces the explainers ModelAdmins share."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from icelab.errors import error_message
from jobs.models import Job
from jobs.services import job_submit

from ..selectors import stored_file_url


def submit_jobs(
    modeladmin: admin.ModelAdmin, request, kind: str, params_list: list[dict]
) -> list[Job]:
    """Submit one job per params and tell the user where to follow them."""
    jobs = []
    for params in params_list:
        try:
            jobs.append(job_submit(kind=kind, params=params))
        except ValidationError as error:
            modeladmin.message_user(request, error_message(error), messages.ERROR)
    if jobs:
        links = format_html_join(
            ", ",
            '<a href="{}">job {}</a>',
            ((reverse("admin:jobs_job_change", args=[job.pk]), job.pk) for job in jobs),
        )
        modeladmin.message_user(
            request,
            format_html(
                "Queued {} {}: {}. Progress shows on the Jobs page.",
                len(jobs),
                kind.replace("_", " "),
                links,
            ),
            messages.SUCCESS,
        )
    return jobs


def image_row(files: list[str], size: int = 72):
    """Thumbnails of stored stimulus files, in order."""
    return format_html_join(
        "",
        '<img src="{}" width="{}" height="{}" style="margin-right:4px;image-rendering:pixelated" alt="">',
        ((stored_file_url(name), size, size) for name in files),
    )


def object_link(viewname: str, pk: int, label: str):
    return format_html('<a href="{}">{}</a>', reverse(viewname, args=[pk]), label)
