"""Admin for stimulus sets: build and freeze actions, the trials, and a participant's-eye preview."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from icelab.errors import error_message

from .. import services
from ..models import StimulusSet, Trial
from ..selectors import stimulus_set_trials, trial_display
from .common import image_row, submit_jobs

_BUILD_FIELDS = ("seed", "n_classes", "n_training", "n_components", "explainer_seed")


class TrialInline(admin.TabularInline):
    model = Trial
    extra = 0
    can_delete = False
    fields = [
        "position",
        "phase",
        "class_name",
        "target_concept",
        "target_percentile",
        "target",
        "preview",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="target image")
    def target(self, trial: Trial):
        return image_row([trial.target_file], size=56)

    @admin.display(description="preview")
    def preview(self, trial: Trial):
        url = reverse(
            "admin:explainers_stimulusset_preview", args=[trial.stimulus_set_id, trial.position]
        )
        return format_html('<a href="{}">as a participant sees it</a>', url)


@admin.register(StimulusSet)
class StimulusSetAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "scenario",
        "reducer",
        "seed",
        "status",
        "frozen",
        "trial_count",
        "built_at",
    ]
    list_filter = ["status", "reducer", "scenario"]
    inlines = [TrialInline]
    actions = ["build", "freeze"]
    fields = [
        "scenario",
        "reducer",
        *_BUILD_FIELDS,
        "draw_rule",
        "status",
        "error",
        "classes",
        "frozen_at",
        "built_at",
    ]

    def get_readonly_fields(self, request, obj: StimulusSet | None = None):
        if obj is None:
            return ["draw_rule", "status", "error", "classes", "frozen_at", "built_at"]
        return (
            self.fields
        )  # a set is defined by its seed and settings: rebuild another rather than edit

    def get_inlines(self, request, obj: StimulusSet | None = None):
        return self.inlines if obj is not None else []  # a new set has no trials until it is built

    def has_delete_permission(self, request, obj: StimulusSet | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not (
            obj is not None and obj.is_frozen
        )

    @admin.display(boolean=True, description="frozen")
    def frozen(self, obj: StimulusSet) -> bool:
        return obj.is_frozen

    @admin.display(description="trials")
    def trial_count(self, obj: StimulusSet) -> int:
        return obj.trials.count()

    def save_model(self, request, obj: StimulusSet, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            self._submit_builds(request, [obj])

    def delete_queryset(self, request, queryset) -> None:
        frozen = queryset.filter(frozen_at__isnull=False)
        if frozen.exists():
            self.message_user(
                request,
                f"{frozen.count()} frozen set(s) kept: a launched study uses them.",
                messages.WARNING,
            )
        super().delete_queryset(request, queryset.filter(frozen_at__isnull=True))

    @admin.action(description="Build the selected sets (fits the explainers they need)")
    def build(self, request, queryset) -> None:
        self._submit_builds(request, list(queryset.filter(frozen_at__isnull=True)))

    @admin.action(description="Freeze the selected sets (no further changes; records the manifest)")
    def freeze(self, request, queryset) -> None:
        for stimulus_set in queryset:
            try:
                services.stimulus_set_freeze(stimulus_set=stimulus_set)
            except ValidationError as error:
                self.message_user(request, error_message(error), messages.ERROR)
            else:
                self.message_user(
                    request, f"Stimulus set {stimulus_set.pk} is frozen.", messages.SUCCESS
                )

    def _submit_builds(self, request, sets: list[StimulusSet]) -> None:
        submit_jobs(
            self,
            request,
            "build_stimulus_set",
            [
                {
                    "scenario": s.scenario_id,
                    "reducer": s.reducer,
                    **{f: getattr(s, f) for f in _BUILD_FIELDS},
                }
                for s in sets
            ],
        )

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path(
                "<int:pk>/trials/<int:position>/preview/",
                preview,
                name="explainers_stimulusset_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, pk: int, position: int):
        """One trial exactly as a participant sees it (rows shuffled anew on every view)."""
        stimulus_set = get_object_or_404(StimulusSet, pk=pk)
        if not self.has_view_permission(request, stimulus_set):
            raise Http404
        trials = list(stimulus_set_trials(stimulus_set=stimulus_set))
        trial = next((t for t in trials if t.position == position), None)
        if trial is None:
            raise Http404(f"stimulus set {pk} has no trial {position}")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of trial {position + 1} of {len(trials)}",
            "opts": self.model._meta,
            "original": stimulus_set,
            "stimulus_set": stimulus_set,
            "trial": trial,
            "display": trial_display(trial=trial),
            "previous": position - 1 if position > 0 else None,
            "next": position + 1 if position + 1 < len(trials) else None,
        }
        return TemplateResponse(request, "admin/explainers/stimulusset/trial_preview.html", context)
