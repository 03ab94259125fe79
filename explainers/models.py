"""What a researcher sets up: datasets, classifiers, scenarios, explainers, concepts, stimulus sets.

Writes go through :mod:`explainers.services`; these classes hold data, the checks a form
can run without the model files (``clean``), and the one invariant that must hold
whatever code path writes: a frozen stimulus set never changes.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Reducer(models.TextChoices):
    NMF = "nmf", "NMF (ICE / NCAV)"
    PCA = "pca", "PCA"
    KMEANS = "kmeans", "k-means (ACE)"


class Dataset(models.Model):
    """An image dataset laid out as ImageFolder splits: ``path/train/<class>/*``, ``path/test/<class>/*``."""

    class Kind(models.TextChoices):
        IMAGEFOLDER = "imagefolder", "ImageFolder directory"
        SYNTHETIC = "synthetic", "Built-in synthetic dataset"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.IMAGEFOLDER)
    path = models.CharField(
        max_length=500, help_text="Directory holding train/ and test/ (and optionally val/)."
    )
    seed = models.PositiveIntegerField(
        null=True, blank=True, help_text="Synthetic datasets: the generator's seed."
    )
    generator_params = models.JSONField(
        default=dict, blank=True, help_text="Synthetic datasets: size, per_class, n_classes."
    )
    class_names = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == self.Kind.SYNTHETIC and self.seed is None:
            raise ValidationError(
                {"seed": "A synthetic dataset needs the seed it is generated from."}
            )
        missing = [split for split in ("train", "test") if not (Path(self.path) / split).is_dir()]
        if missing:
            hint = (
                " Generate it with `manage.py make_synthetic_dataset` first."
                if self.kind == self.Kind.SYNTHETIC
                else ""
            )
            raise ValidationError(
                {
                    "path": (
                        f"{self.path} has no {' or '.join(s + '/' for s in missing)} folder; a dataset needs "
                        f"train/<class>/ and test/<class>/ folders of images.{hint}"
                    )
                }
            )


class Classifier(models.Model):
    """A torchvision architecture with torchvision weights or a local checkpoint."""

    name = models.CharField(max_length=100, unique=True)
    arch = models.CharField(
        max_length=100, help_text="torchvision architecture name, or icelab_resnet."
    )
    weights = models.CharField(
        max_length=100, blank=True, help_text="torchvision weights name, e.g. IMAGENET1K_V2."
    )
    checkpoint = models.CharField(
        max_length=500, blank=True, help_text="Path of a local checkpoint (.pt)."
    )
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    class_names = models.JSONField(default=list, blank=True, editable=False)
    num_classes = models.PositiveIntegerField(default=0, editable=False)
    input_size = models.PositiveIntegerField(default=224)
    resize_size = models.PositiveIntegerField(
        default=224, help_text="Shorter side before the centre crop."
    )
    mean = models.JSONField(default=list, blank=True)
    std = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if bool(self.weights) == bool(self.checkpoint):
            raise ValidationError(
                "Give exactly one of weights (a torchvision weights name) or checkpoint (a file path): "
                "a classifier with random weights cannot be explained reproducibly."
            )
        if self.checkpoint and not Path(self.checkpoint).is_file():
            raise ValidationError(
                {
                    "checkpoint": f"{self.checkpoint} is not a file; give the path of a .pt checkpoint."
                }
            )


class Scenario(models.Model):
    """A dataset, a classifier and the layer explained: one group of the study per reducer."""

    name = models.CharField(max_length=100, unique=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="scenarios")
    classifier = models.ForeignKey(Classifier, on_delete=models.PROTECT, related_name="scenarios")
    layer = models.CharField(
        max_length=200, help_text="Name of a module of the classifier, e.g. layer4."
    )
    input_size = models.PositiveIntegerField(
        help_text="Images are resized to input_size × input_size."
    )
    # ICE computes logits as head(E(I)); this records that the head found after the layer
    # reproduced the classifier's own logits on real images, so the check runs once.
    head_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    head_max_difference = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text="Largest |head(E(I)) − F(I)| over the logits of the check images.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "classifier", "layer", "input_size"], name="unique_scenario"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ExplainerRun(models.Model):
    """One explainer: a reducer with c' components fitted on one class's training activations."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="explainer_runs")
    class_name = models.CharField(max_length=200)
    reducer = models.CharField(max_length=10, choices=Reducer.choices)
    n_components = models.PositiveIntegerField(default=10)
    seed = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    error = models.TextField(blank=True)
    fidelity = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    reducer_file = models.CharField(
        max_length=500, blank=True, help_text="Fitted reducer, relative to ICELAB_HOME."
    )
    reducer_sha256 = models.CharField(max_length=64, blank=True)
    weights_are_estimates = models.BooleanField(default=False)
    converged = models.BooleanField(
        null=True,
        blank=True,
        help_text="Whether the reducer's solver met its stopping rule before max_iter "
        "(PCA: always); empty until fitted.",
    )
    n_iter = models.PositiveIntegerField(
        null=True, blank=True, help_text="Iterations the reducer's solver ran."
    )
    n_train_images = models.PositiveIntegerField(default=0)
    n_test_images = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["scenario", "reducer", "class_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["scenario", "class_name", "reducer", "n_components", "seed"],
                name="unique_explainer_run",
            ),
            # Convergence is one fact with two parts: recorded together or not at all
            # (runs fitted before it was recorded have neither).
            models.CheckConstraint(
                condition=Q(converged__isnull=True, n_iter__isnull=True)
                | Q(converged__isnull=False, n_iter__isnull=False),
                name="explainer_run_convergence_recorded_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} · {self.class_name} · {self.reducer} c'={self.n_components}"


class Concept(models.Model):
    """Concept ``index`` of an explainer: its vector, its weights and its prototypes."""

    run = models.ForeignKey(ExplainerRun, on_delete=models.CASCADE, related_name="concepts")
    index = models.PositiveIntegerField()
    vector = models.JSONField(help_text="The component p_k (c,).")
    class_weights = models.JSONField(help_text="(P·W)_k: the concept's weight for every class.")
    weight = models.FloatField(help_text="The concept's weight for the run's class.")
    prototypes = models.JSONField(
        default=list, help_text="[{image, sha256, file, file_sha256}], best first."
    )
    best_part = models.CharField(max_length=100, blank=True)
    best_part_iou = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "-weight"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="unique_concept_index")
        ]

    def __str__(self) -> str:
        return f"concept {self.index} of {self.run}"


class FidelitySweep(models.Model):
    """Fidelity of the approximate models against c' for each reducer (the paper's Figure 3)."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="fidelity_sweeps")
    reducers = models.JSONField()
    n_components = models.JSONField()
    classes = models.JSONField()
    seed = models.PositiveIntegerField(default=0)
    table = models.JSONField(
        default=list, help_text="One row per (reducer, c'): fid_c, fid_r, accuracy, …"
    )
    figure = models.CharField(max_length=300, blank=True, help_text="Storage name of the plot.")
    sidecar = models.CharField(
        max_length=300,
        blank=True,
        help_text="Storage name of the plot's JSON sidecar: table, settings, versions, device, timings.",
    )
    run_key = models.CharField(
        max_length=120,
        blank=True,
        default="",
        help_text="The run folder and run id it was combined from (ICELAB_HOME/sweeps); "
        "one sweep per run, so a combine done twice adds no row.",
    )
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["run_key"],
                condition=~models.Q(run_key=""),
                name="one_fidelity_sweep_per_run",
            )
        ]

    def __str__(self) -> str:
        return f"fidelity sweep of {self.scenario} ({', '.join(self.reducers)})"


class FrozenStimulusSetError(ValidationError):
    """A change was attempted on a stimulus set that a launched study uses."""


class FrozenGuardQuerySet(models.QuerySet):
    """Bulk delete/update refuse rows that belong to a frozen stimulus set.

    Subclasses name the lookup that reaches the set's ``frozen_at`` and what the rows are.
    """

    frozen_lookup = "frozen_at__isnull"
    rows = "Frozen stimulus sets"

    def _refuse_if_frozen(self, action: str) -> None:
        if self.filter(**{self.frozen_lookup: False}).exists():
            raise FrozenStimulusSetError(
                f"{self.rows} cannot {action}: a launched study uses them."
            )

    def delete(self):
        self._refuse_if_frozen("be deleted")
        return super().delete()

    def update(self, **kwargs):
        self._refuse_if_frozen("change")
        return super().update(**kwargs)


class StimulusSetQuerySet(FrozenGuardQuerySet):
    pass


class DrawRule(models.TextChoices):
    """How a stimulus set's trials were drawn (:mod:`explainers.ice.stimuli` explains each rule).

    A set keeps the rule it was built with, so it can be rebuilt exactly; sets built
    before the rule was recorded are "v1".
    """

    V1 = "v1", "v1: target draws keyed by (seed, position), shared by every reducer"
    V2 = "v2", "v2: target draws keyed by (seed, reducer, position); blank maps never shown"


class StimulusSet(models.Model):
    """The trials one group of a study sees: one scenario, one reducer, drawn from one seed."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="stimulus_sets")
    reducer = models.CharField(max_length=10, choices=Reducer.choices)
    seed = models.PositiveIntegerField(default=0)
    n_classes = models.PositiveIntegerField(default=20)
    n_training = models.PositiveIntegerField(default=5)
    n_components = models.PositiveIntegerField(default=10)
    explainer_seed = models.PositiveIntegerField(
        default=0, help_text="Seed of the explainers the set uses."
    )
    classes = models.JSONField(
        default=list, blank=True, help_text="The drawn classes, in trial order."
    )
    draw_rule = models.CharField(
        max_length=10,
        choices=DrawRule.choices,
        default=DrawRule.V2,
        editable=False,
        help_text="The sampling rule that drew the trials; a rebuild uses the same rule.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    error = models.TextField(blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    manifest = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = StimulusSetQuerySet.as_manager()

    class Meta:
        ordering = ["scenario", "reducer", "seed"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "scenario",
                    "reducer",
                    "seed",
                    "n_classes",
                    "n_training",
                    "n_components",
                    "explainer_seed",
                ],
                name="unique_stimulus_set",
            ),
            models.CheckConstraint(
                condition=Q(n_training__lt=models.F("n_classes")),
                name="stimulus_set_has_test_trials",
            ),
            models.CheckConstraint(
                condition=Q(draw_rule__in=DrawRule.values), name="stimulus_set_known_draw_rule"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} · {self.reducer} · seed {self.seed}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def save(self, *args, **kwargs) -> None:
        # The invariant lives here, not only in services, so no code path can edit a frozen set.
        if (
            self.pk is not None
            and StimulusSet.objects.filter(pk=self.pk, frozen_at__isnull=False).exists()
        ):
            raise FrozenStimulusSetError(
                f"Stimulus set {self.pk} is frozen: a launched study uses it."
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if (
            self.is_frozen
            or StimulusSet.objects.filter(pk=self.pk, frozen_at__isnull=False).exists()
        ):
            raise FrozenStimulusSetError(f"Stimulus set {self.pk} is frozen and cannot be deleted.")
        return super().delete(*args, **kwargs)


class TrialQuerySet(FrozenGuardQuerySet):
    frozen_lookup = "stimulus_set__frozen_at__isnull"
    rows = "Trials of a frozen stimulus set"


class Trial(models.Model):
    """One trial: a highlighted target image and five candidate concepts with their prototypes."""

    class Phase(models.TextChoices):
        TRAINING = "training", "Training"
        TEST = "test", "Test"

    stimulus_set = models.ForeignKey(StimulusSet, on_delete=models.CASCADE, related_name="trials")
    position = models.PositiveIntegerField()
    phase = models.CharField(max_length=10, choices=Phase.choices)
    class_name = models.CharField(max_length=200)
    run = models.ForeignKey(ExplainerRun, on_delete=models.PROTECT, related_name="trials")
    target_concept = models.PositiveIntegerField()
    target_percentile = models.FloatField()
    target_image = models.CharField(
        max_length=500, help_text="Source image, relative to the dataset."
    )
    target_image_sha256 = models.CharField(max_length=64)
    target_file = models.CharField(
        max_length=300, help_text="Storage name of the highlighted image."
    )
    target_file_sha256 = models.CharField(max_length=64)
    concept_weights = models.JSONField(
        help_text="The class weight of every concept of the explainer."
    )
    candidates = models.JSONField(
        help_text="[{concept, weight, prototypes: [{image, sha256, file, file_sha256}]}]"
    )

    objects = TrialQuerySet.as_manager()

    class Meta:
        ordering = ["stimulus_set", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["stimulus_set", "position"], name="unique_trial_position"
            )
        ]

    def __str__(self) -> str:
        return f"trial {self.position + 1} ({self.phase}) of {self.stimulus_set}"

    def save(self, *args, **kwargs) -> None:
        if StimulusSet.objects.filter(pk=self.stimulus_set_id, frozen_at__isnull=False).exists():
            raise FrozenStimulusSetError(
                f"Stimulus set {self.stimulus_set_id} is frozen; its trials cannot change."
            )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if StimulusSet.objects.filter(pk=self.stimulus_set_id, frozen_at__isnull=False).exists():
            raise FrozenStimulusSetError(
                f"Stimulus set {self.stimulus_set_id} is frozen; its trials cannot be deleted."
            )
        return super().delete(*args, **kwargs)
