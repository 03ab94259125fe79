"""The researcher's admin for studies: configuration, launch/pause/close, monitoring, participants,
and the platforms (MTurk qualification, HITs, approvals; Prolific sync; bonuses and their ledger).

Staff only (the admin site requires ``is_staff``). Forms collect input; every write goes
through :mod:`studies.services`. Platform work that may take long (approvals, syncs,
bonuses) is queued as a job (see *Jobs*); making a HIT or a qualification is one call. Participants and their answers are read-only here:
they are data, and the database keeps them even when a participant is excluded.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from explainers.selectors import ready_stimulus_sets
from icelab.errors import error_message

from .models import (
    Attempt,
    BonusPayment,
    BonusStatus,
    DemographicAnswer,
    Event,
    Group,
    MTurkHIT,
    Participant,
    QuestionnaireAnswer,
    Study,
    TrialResponse,
)
from .selectors import participant_accuracy, study_group_stats
from .services import (
    participant_set_status,
    study_close,
    study_create,
    study_launch,
    study_mturk_create_hit,
    study_mturk_grants_submit,
    study_mturk_setup,
    study_pause,
    study_update,
)
from .services.bonus_payments import bonus_payment_resolve
from .services.studies import check_trial_counts, study_validate
from .services.versions import CONFIG_FIELDS

EDITABLE = [field for field in CONFIG_FIELDS if field != "slug"]


class StudyForm(forms.ModelForm):
    stimulus_sets = forms.ModelMultipleChoiceField(
        queryset=ready_stimulus_sets(),
        required=False,
        help_text="One group per set (new studies only).",
    )

    class Meta:
        model = Study
        fields = ["slug", *EDITABLE]

    def _post_clean(self) -> None:
        super()._post_clean()  # the instance now holds the form's values
        if self.errors:
            return
        cleaned = self.cleaned_data
        try:
            study_validate(study=self.instance)
            if self.instance.pk is None:
                sets = cleaned.get("stimulus_sets") or []
                if not sets:
                    raise ValidationError("Choose at least one stimulus set (one group each).")
                check_trial_counts(
                    stimulus_sets=sets,
                    n_training=cleaned.get("n_training"),
                    n_test=cleaned.get("n_test"),
                )
        except ValidationError as error:
            self.add_error(None, error_message(error))


class GroupInline(admin.TabularInline):
    model = Group
    extra = 0
    can_delete = False
    fields = ["label", "stimulus_set"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    form = StudyForm
    list_display = [
        "slug",
        "title",
        "status",
        "version",
        "n_participants",
        "monitor_link",
    ]
    list_filter = ["status"]
    search_fields = ["slug", "title"]
    inlines = [GroupInline]
    actions = [
        "launch",
        "pause",
        "close",
        "mturk_setup",
        "mturk_create_hit",
        "mturk_grant_missing",
        "mturk_approve",
        "prolific_sync",
        "pay_bonuses",
    ]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(n_participants=Count("participants"))

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = ["slug", *EDITABLE]
        return fields if obj is not None else [*fields, "stimulus_sets"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return ["slug", "status"] if obj is not None else ["status"]

    @admin.display(description="participants", ordering="n_participants")
    def n_participants(self, study: Study) -> int:
        return study.n_participants

    @admin.display(description="version")
    def version(self, study: Study) -> str:
        version = study.current_version
        return f"v{version.number} · {version.sha256[:12]}" if version else "—"

    @admin.display(description="monitor")
    def monitor_link(self, study: Study):
        return format_html(
            '<a href="{}">monitor</a>', reverse("admin:studies_study_monitor", args=[study.pk])
        )

    def save_model(self, request: HttpRequest, obj: Study, form: StudyForm, change: bool) -> None:
        values = {
            field: form.cleaned_data[field] for field in EDITABLE if field in form.cleaned_data
        }
        if change:
            changed = {field: values[field] for field in form.changed_data if field in values}
            if changed:
                study_update(study=obj, **changed)
            return
        created = study_create(
            slug=form.cleaned_data["slug"],
            title=values.pop("title"),
            stimulus_sets=list(form.cleaned_data["stimulus_sets"]),
            platforms=values.pop("platforms"),
            **values,
        )
        obj.pk, obj._state.adding = created.pk, False

    def _each(self, request: HttpRequest, queryset, service, done: str) -> None:
        for study in queryset:
            try:
                service(study=study)
                self.message_user(request, f"{study.slug}: {done}.", messages.SUCCESS)
            except ValidationError as error:
                self.message_user(request, f"{study.slug}: {error_message(error)}", messages.ERROR)

    @admin.action(description="Launch (or resume) the selected studies")
    def launch(self, request: HttpRequest, queryset) -> None:
        self._each(request, queryset, study_launch, "live")

    @admin.action(description="Pause the selected studies")
    def pause(self, request: HttpRequest, queryset) -> None:
        self._each(request, queryset, study_pause, "paused")

    @admin.action(description="Close the selected studies")
    def close(self, request: HttpRequest, queryset) -> None:
        self._each(request, queryset, study_close, "closed")

    @admin.action(description="MTurk: set up the 'has taken part' qualification")
    def mturk_setup(self, request: HttpRequest, queryset) -> None:
        for study in queryset:
            try:
                type_id = study_mturk_setup(study=study)
                self.message_user(
                    request, f"{study.slug}: qualification {type_id}.", messages.SUCCESS
                )
            except ValidationError as error:
                self.message_user(request, f"{study.slug}: {error_message(error)}", messages.ERROR)

    @admin.action(description="MTurk: create the HIT of the current version")
    def mturk_create_hit(self, request: HttpRequest, queryset) -> None:
        for study in queryset:
            try:
                hit = study_mturk_create_hit(study=study)
                site = "sandbox" if hit.sandbox else "live"
                self.message_user(
                    request,
                    f"{study.slug}: HIT {hit.hit_id} ({site}, {hit.max_assignments} assignments).",
                    messages.SUCCESS,
                )
            except ValidationError as error:
                self.message_user(request, f"{study.slug}: {error_message(error)}", messages.ERROR)

    @admin.action(description="MTurk: grant qualifications that are missing (queues jobs)")
    def mturk_grant_missing(self, request: HttpRequest, queryset) -> None:
        for study in queryset:
            count = study_mturk_grants_submit(study=study)
            self.message_user(request, f"{study.slug}: {count} grant job(s) queued.")

    @admin.action(description="MTurk: approve completed participants' assignments (job)")
    def mturk_approve(self, request: HttpRequest, queryset) -> None:
        self._queue(request, queryset, "mturk_approve")

    @admin.action(description="Sync returns/time-outs from Prolific (job)")
    def prolific_sync(self, request: HttpRequest, queryset) -> None:
        self._queue(request, queryset, "prolific_sync")

    @admin.action(description="Pay bonuses earned under the bonus rule (job)")
    def pay_bonuses(self, request: HttpRequest, queryset) -> None:
        self._queue(request, queryset, "pay_bonuses")

    def _queue(self, request: HttpRequest, queryset, kind: str) -> None:
        from jobs.services import job_submit

        for study in queryset:
            job = job_submit(kind=kind, params={"study": study.pk})
            url = reverse("admin:jobs_job_change", args=[job.pk])
            self.message_user(
                request,
                format_html(
                    '{}: <a href="{}">job #{}</a> ({}) queued.', study.slug, url, job.pk, kind
                ),
            )

    def get_urls(self):
        monitor = path(
            "<int:pk>/monitor/",
            self.admin_site.admin_view(self.monitor_view),
            name="studies_study_monitor",
        )
        return [monitor, *super().get_urls()]

    def monitor_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        study = get_object_or_404(Study, pk=pk)
        if not self.has_view_permission(request, study):
            return HttpResponse(status=403)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "study": study,
            "title": f"Monitor {study.slug}",
            "rows": study_group_stats(study=study),
            "participants_url": reverse("admin:studies_participant_changelist")
            + f"?study__id__exact={study.pk}",
        }
        return TemplateResponse(request, "admin/studies/study/monitor.html", context)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ResponseInline(ReadOnlyInline):
    model = TrialResponse
    fields = [
        "trial",
        "phase",
        "chosen_position",
        "chosen_concept",
        "is_correct",
        "rt_ms",
        "descriptions_text",
    ]
    readonly_fields = fields

    @admin.display(description="descriptions (rows 1-5)")
    def descriptions_text(self, response: TrialResponse) -> str:
        return " · ".join(d.text for d in response.descriptions.order_by("position"))


class QuestionnaireInline(ReadOnlyInline):
    model = QuestionnaireAnswer
    fields = ["item", "value"]
    readonly_fields = fields


class DemographicInline(ReadOnlyInline):
    model = DemographicAnswer
    fields = ["item", "value"]
    readonly_fields = fields


class AttemptInline(ReadOnlyInline):
    model = Attempt
    fields = ["attempt_id", "platform_study_id", "created_at", "last_seen_at"]
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    model = Event
    fields = ["at", "kind", "page", "trial", "detail"]
    readonly_fields = fields


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "study",
        "platform",
        "external_id",
        "group",
        "status",
        "page",
        "accuracy",
        "started_at",
    ]
    list_filter = ["study", "status", "platform", "group"]
    search_fields = ["external_id"]
    inlines = [AttemptInline, ResponseInline, QuestionnaireInline, DemographicInline, EventInline]
    readonly_fields = [
        "study",
        "version",
        "group",
        "platform",
        "external_id",
        "status",
        "page",
        "order_seed",
        "started_at",
        "deadline",
        "completed_at",
        "ended_at",
        "completion_code",
        "exclusion_rule",
        "accuracy",
    ]
    fields = readonly_fields  # never the tokens: they are the participant's identity

    actions = ["exclude_participants"]

    @admin.action(description="Exclude the selected participants (rows are kept, flagged)")
    def exclude_participants(self, request: HttpRequest, queryset) -> None:
        rule = f"excluded in review by {request.user.get_username()}"
        for participant in queryset:
            try:
                participant_set_status(participant=participant, status="excluded", rule=rule)
            except ValidationError as error:
                self.message_user(request, f"{participant}: {error_message(error)}", messages.ERROR)
        self.message_user(request, f"Excluded {queryset.filter(status='excluded').count()}.")

    @admin.display(description="test accuracy")
    def accuracy(self, participant: Participant) -> str:
        correct, total = participant_accuracy(participant=participant)
        return f"{correct}/{total}" if total else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # rows are kept and flagged, never deleted


@admin.register(MTurkHIT)
class MTurkHITAdmin(admin.ModelAdmin):
    list_display = ["hit_id", "study", "version", "batch", "sandbox", "max_assignments", "reward"]
    list_filter = ["study", "sandbox"]
    readonly_fields = [f.name for f in MTurkHIT._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the study's "create the HIT" action

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(BonusPayment)
class BonusPaymentAdmin(admin.ModelAdmin):
    """The ledger, read-only: rows change only through the ledger's services."""

    list_display = [
        "pk",
        "study_key",
        "platform",
        "worker_id",
        "assignment_id",
        "participant",
        "amount",
        "status",
        "attempts",
        "sent_at",
        "paid_at",
    ]
    list_filter = ["status", "platform", "study_key"]
    search_fields = ["worker_id", "assignment_id"]
    readonly_fields = [f.name for f in BonusPayment._meta.fields]
    actions = ["resolve_paid", "resolve_not_paid"]

    @admin.action(description="Checked on the platform: the bonus WAS paid")
    def resolve_paid(self, request: HttpRequest, queryset) -> None:
        self._resolve(request, queryset, paid=True)

    @admin.action(description="Checked on the platform: the bonus was NOT paid (may be resent)")
    def resolve_not_paid(self, request: HttpRequest, queryset) -> None:
        self._resolve(request, queryset, paid=False)

    def _resolve(self, request: HttpRequest, queryset, *, paid: bool) -> None:
        note = f"checked on the platform by {request.user.get_username()}"
        for payment in queryset:
            if payment.status != BonusStatus.NEEDS_CHECK:
                self.message_user(
                    request,
                    f"Bonus {payment.pk} is {payment.get_status_display()!r}: only rows needing "
                    "a check are resolved by hand.",
                    messages.WARNING,
                )
                continue
            try:
                bonus_payment_resolve(payment=payment, paid=paid, note=note)
                self.message_user(request, f"Bonus {payment.pk} resolved.", messages.SUCCESS)
            except ValidationError as error:
                self.message_user(
                    request, f"Bonus {payment.pk}: {error_message(error)}", messages.ERROR
                )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the ledger is the record of what was paid
