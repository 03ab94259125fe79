"""Admin for what a scenario is made of: datasets, classifiers, scenarios (with the fit/sweep/build actions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from ..models import Classifier, Dataset, Reducer, Scenario
from ..selectors import folder_class_names
from ..services.classifiers import classifier_fill_meta
from ..services.scenarios import scenario_validate
from .common import submit_jobs


class DatasetForm(forms.ModelForm):
    class Meta:
        model = Dataset
        fields = ["name", "kind", "path", "seed", "generator_params"]

    def _post_clean(self) -> None:
        super()._post_clean()
        if not self.errors and not folder_class_names(self.instance.path):
            self.add_error(
                "path",
                f"{self.instance.path}/train has no class folders; put each class's images in train/<class>/.",
            )


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    form = DatasetForm
    list_display = ["name", "kind", "path", "class_count", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "path"]
    readonly_fields = ["class_names", "created_at"]

    @admin.display(description="classes")
    def class_count(self, obj: Dataset) -> int:
        return len(obj.class_names)

    def save_model(self, request, obj: Dataset, form, change: bool) -> None:
        obj.class_names = folder_class_names(obj.path)
        super().save_model(request, obj, form, change)


class ClassifierForm(forms.ModelForm):
    class Meta:
        model = Classifier
        fields = ["name", "arch", "weights", "checkpoint"]

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        try:
            # Loading the weights is the only real check that they fit the architecture.
            classifier_fill_meta(classifier=self.instance)
        except ValidationError as error:
            self.add_error(None, error)


@admin.register(Classifier)
class ClassifierAdmin(admin.ModelAdmin):
    form = ClassifierForm
    list_display = ["name", "arch", "weights", "checkpoint", "num_classes", "input_size"]
    search_fields = ["name", "arch"]
    readonly_fields = [
        "sha256",
        "num_classes",
        "class_names",
        "input_size",
        "resize_size",
        "mean",
        "std",
        "created_at",
    ]


class ScenarioForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = ["name", "dataset", "classifier", "layer", "input_size"]

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        try:
            scenario_validate(scenario=self.instance)
        except ValidationError as error:
            self.add_error(None, error)


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    form = ScenarioForm
    list_display = ["name", "dataset", "classifier", "layer", "input_size", "created_at"]
    list_filter = ["dataset", "classifier"]
    search_fields = ["name", "layer"]
    actions = ["fit_explainers", "run_fidelity_sweep", "build_stimulus_sets"]

    @admin.action(description="Fit NMF, PCA and k-means explainers (c' = 10) for every class")
    def fit_explainers(self, request, queryset) -> None:
        submit_jobs(
            self,
            request,
            "fit_explainers",
            [
                {"scenario": s.pk, "reducer": r, "n_components": 10, "seed": 0}
                for s in queryset
                for r in Reducer.values
            ],
        )

    @admin.action(description="Run a fidelity sweep (c' = 5..50, all reducers)")
    def run_fidelity_sweep(self, request, queryset) -> None:
        submit_jobs(
            self, request, "fidelity_sweep", [{"scenario": s.pk, "seed": 0} for s in queryset]
        )

    @admin.action(description="Build stimulus sets (one per reducer, seed 0)")
    def build_stimulus_sets(self, request, queryset) -> None:
        submit_jobs(
            self,
            request,
            "build_stimulus_set",
            [{"scenario": s.pk, "reducer": r, "seed": 0} for s in queryset for r in Reducer.values],
        )
