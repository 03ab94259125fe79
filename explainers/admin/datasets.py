"""Admin for what a scenario is made of: datasets, classifiers, scenarios (with the fit/sweep/build actions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from ..models import Classifier, Dataset, Reducer, Scenario
from ..selectors import folder_class_names
from ..services.classifiers import classifier_create, classifier_fill_meta
from ..services.datasets import dataset_register
from ..services.scenarios import scenario_create, scenario_validate
from .common import submit_jobs


class CreateThroughServiceAdmin(admin.ModelAdmin):
    """Rows are added by a service and never edited: a change would silently invalidate the
    explainers and stimuli made from them, so a different dataset, classifier or scenario
    is a new row."""

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        if obj is None:
            return list(self.readonly_fields)
        return [f.name for f in self.model._meta.fields if f.name != "id"]

    def save_model(self, request, obj, form, change: bool) -> None:
        if change:
            return  # nothing is editable
        created = self.create(form.cleaned_data)
        obj.pk = created.pk
        obj.refresh_from_db()

    def create(self, data: dict):
        raise NotImplementedError


class DatasetForm(forms.ModelForm):
    class Meta:
        model = Dataset
        fields = ["name", "kind", "path", "seed", "generator_params"]

    def clean(self) -> dict:
        data = super().clean()
        path = data.get("path")
        if path and not folder_class_names(path):
            self.add_error(
                "path",
                f"{path}/train has no class folders; put each class's images in train/<class>/.",
            )
        return data


@admin.register(Dataset)
class DatasetAdmin(CreateThroughServiceAdmin):
    form = DatasetForm
    list_display = ["name", "kind", "path", "class_count", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "path"]
    readonly_fields = ["class_names", "created_at"]

    @admin.display(description="classes")
    def class_count(self, obj: Dataset) -> int:
        return len(obj.class_names)

    def create(self, data: dict) -> Dataset:
        return dataset_register(
            name=data["name"],
            kind=data["kind"],
            path=data["path"],
            seed=data.get("seed"),
            generator_params=data.get("generator_params"),
        )


class ClassifierForm(forms.ModelForm):
    class Meta:
        model = Classifier
        fields = ["name", "arch", "weights", "checkpoint"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["arch"].required = False
        self.fields[
            "arch"
        ].help_text += " Leave empty for an ICE Lab checkpoint, which names its own."

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        classifier = Classifier(**data)
        try:
            # Loading the weights is the only real check that they fit the architecture.
            classifier_fill_meta(classifier=classifier)
        except ValidationError as error:
            self.add_error(None, error)
        else:
            data["arch"] = classifier.arch  # a checkpoint names its architecture itself
        return data


@admin.register(Classifier)
class ClassifierAdmin(CreateThroughServiceAdmin):
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

    def create(self, data: dict) -> Classifier:
        return classifier_create(
            name=data["name"],
            arch=data.get("arch") or None,
            weights=data.get("weights", ""),
            checkpoint=data.get("checkpoint", ""),
        )


class ScenarioForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = ["name", "dataset", "classifier", "layer", "input_size"]

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            scenario_validate(scenario=Scenario(**data))
        except ValidationError as error:
            self.add_error(None, error)
        return data


@admin.register(Scenario)
class ScenarioAdmin(CreateThroughServiceAdmin):
    form = ScenarioForm
    list_display = ["name", "dataset", "classifier", "layer", "input_size", "created_at"]
    list_filter = ["dataset", "classifier"]
    search_fields = ["name", "layer"]
    actions = ["fit_explainers", "run_fidelity_sweep", "build_stimulus_sets"]

    def create(self, data: dict) -> Scenario:
        return scenario_create(
            dataset=data["dataset"],
            classifier=data["classifier"],
            layer=data["layer"],
            input_size=data.get("input_size"),
            name=data.get("name"),
        )

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
