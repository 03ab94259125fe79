"""Admin for explainers: runs with their concept browser, and fidelity sweeps with their plot."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.files.storage import default_storage
from django.utils.html import format_html, format_html_join

from ..models import Concept, ExplainerRun, FidelitySweep, RunStatus
from ..selectors import stored_file_url
from .common import image_row, submit_jobs


class ConceptInline(admin.TabularInline):
    """The concept browser: each concept's weight for the class, its prototypes and best part."""

    model = Concept
    extra = 0
    can_delete = False
    ordering = ["-weight"]
    fields = ["index", "class_weight", "prototype_row", "best_part", "part_iou"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="weight for the class")
    def class_weight(self, concept: Concept) -> str:
        return f"{concept.weight:+.3f}"

    @admin.display(description="IoU with the part")
    def part_iou(self, concept: Concept) -> str:
        return "—" if concept.best_part_iou is None else f"{concept.best_part_iou:.2f}"

    @admin.display(description="prototypes (concept highlighted)")
    def prototype_row(self, concept: Concept):
        return image_row([p["file"] for p in concept.prototypes])


class ExplainerRunForm(forms.ModelForm):
    class Meta:
        model = ExplainerRun
        fields = ["scenario", "class_name", "reducer", "n_components", "seed"]

    def clean(self) -> dict:
        data = super().clean()
        scenario, name = data.get("scenario"), data.get("class_name")
        if scenario is not None and name and name not in scenario.dataset.class_names:
            classes = scenario.dataset.class_names
            self.add_error(
                "class_name",
                f"{name!r} is not a class of {scenario.dataset.name} "
                f"({len(classes)} classes, e.g. {', '.join(classes[:5])}).",
            )
        if data.get("n_components") is not None and data["n_components"] < 1:
            self.add_error("n_components", "c' must be at least 1 (the study uses 10).")
        return data


@admin.register(ExplainerRun)
class ExplainerRunAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "class_name",
        "reducer",
        "n_components",
        "seed",
        "status",
        "convergence",
        "fid_r",
        "fit_seconds",
    ]
    list_filter = ["status", "converged", "reducer", "scenario", "n_components"]
    search_fields = ["class_name"]
    inlines = [ConceptInline]
    actions = ["refit"]
    add_form = ExplainerRunForm
    result_fields = [
        "scenario",
        "class_name",
        "reducer",
        "n_components",
        "seed",
        "status",
        "error",
        "fidelity",
        "timings",
        "reducer_file",
        "reducer_sha256",
        "weights_are_estimates",
        "converged",
        "n_iter",
        "n_train_images",
        "n_test_images",
        "created_at",
        "finished_at",
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:  # adding: choose what to fit; the fit itself runs as a job
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ExplainerRunForm.Meta.fields if obj is None else self.result_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.result_fields

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj: ExplainerRun, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            submit_jobs(self, request, "fit_explainers", [self._fit_params(obj)])

    @staticmethod
    def _fit_params(run: ExplainerRun) -> dict:
        return {
            "scenario": run.scenario_id,
            "reducer": run.reducer,
            "n_components": run.n_components,
            "seed": run.seed,
            "classes": [run.class_name],
        }

    @admin.display(description="converged", ordering="n_iter")
    def convergence(self, run: ExplainerRun) -> str:
        if run.converged is None:
            return "—"  # not fitted yet, or fitted before convergence was recorded
        if run.converged:
            return f"yes, {run.n_iter} it."
        return format_html(
            '<strong style="color:#ba2121">no</strong>, stopped at {} it.', run.n_iter
        )

    @admin.display(description="Fid_r")
    def fid_r(self, run: ExplainerRun) -> str:
        value = run.fidelity.get("fid_r")
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="fit (s)")
    def fit_seconds(self, run: ExplainerRun) -> str:
        value = run.timings.get("fit_seconds")
        return "—" if value is None else f"{value:.2f}"

    @admin.action(description="Fit again the selected runs that failed or never finished")
    def refit(self, request, queryset) -> None:
        submit_jobs(
            self,
            request,
            "fit_explainers",
            [self._fit_params(run) for run in queryset.exclude(status=RunStatus.SUCCEEDED)],
        )


@admin.register(FidelitySweep)
class FidelitySweepAdmin(admin.ModelAdmin):
    list_display = ["__str__", "scenario", "seed", "convergence", "seconds", "created_at"]
    list_filter = ["scenario"]
    fields = [
        "scenario",
        "reducers",
        "n_components",
        "classes",
        "seed",
        "seconds",
        "plot",
        "record",
        "results",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # sweeps are run from the scenario's action or the fidelity_sweep command

    @admin.display(description="converged")
    def convergence(self, sweep: FidelitySweep) -> str:
        if not sweep.table or "n_unconverged" not in sweep.table[0]:
            return "—"  # stored before convergence was recorded
        stopped = sum(int(row["n_unconverged"]) for row in sweep.table)
        if not stopped:
            return "all fits"
        return format_html('<strong style="color:#ba2121">{} fit(s) not</strong>', stopped)

    @admin.display(description="plot")
    def plot(self, sweep: FidelitySweep):
        if not sweep.figure:
            return "—"
        return format_html(
            '<img src="{}" alt="accuracy, Fid_c and Fid_r against c\'" style="max-width:100%">',
            stored_file_url(sweep.figure),
        )

    @admin.display(description="run")
    def record(self, sweep: FidelitySweep):
        """The caption (versions, device, timings), the JSON sidecar and the run folder."""
        if not sweep.sidecar:
            return "—"  # stored before sidecars existed
        try:
            with default_storage.open(sweep.sidecar, "rb") as stream:
                caption = json.load(stream).get("caption", "")
        except (OSError, ValueError):
            caption = "(the sidecar cannot be read)"
        return format_html(
            '{}<br><a href="{}">JSON sidecar</a> (table, settings, versions, device, timings)'
            "<br>run folder: <code>$ICELAB_HOME/sweeps/{}</code>",
            caption,
            stored_file_url(sweep.sidecar),
            sweep.run_key.split("/")[0],
        )

    @admin.display(description="table")
    def results(self, sweep: FidelitySweep):
        columns = [
            "reducer",
            "n_components",
            "accuracy",
            "fid_c",
            "fid_r",
            "fit_seconds",
            "n_unconverged",
            "max_n_iter",
        ]
        header = format_html_join("", "<th>{}</th>", ((c,) for c in columns))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", ((_cell(row.get(c)),) for c in columns)),)
                for row in sweep.table
            ),
        )
        stopped = sum(int(row.get("n_unconverged") or 0) for row in sweep.table)
        warning = (
            format_html(
                '<p style="color:#ba2121"><strong>{} class fit(s) stopped at max_iter before '
                "converging</strong> (n_unconverged); their rows show an early stop, not the "
                "method.</p>",
                stopped,
            )
            if stopped
            else ""
        )
        return format_html(
            "{}<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", warning, header, rows
        )


def _cell(value) -> str:
    if value is None:
        return "—"  # a column that sweeps stored before it existed do not have
    return f"{value:.3f}" if isinstance(value, float) else str(value)
