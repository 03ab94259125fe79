"""A study, its groups (one frozen stimulus set each) and the frozen versions of its configuration.

The researcher edits a :class:`Study`; participants never see it directly. Launching
freezes a :class:`StudyVersion` (the configuration as JSON and its sha256); every
participant and response points at the version they saw, and an edit after the first
participant started makes a new version instead of changing the old one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    slug = models.SlugField(max_length=60, unique=True, help_text="The study's URL: /s/<slug>/.")
    title = models.CharField(max_length=200)
    description = models.TextField(
        blank=True, help_text="What the task is: shown before starting and in the MTurk preview."
    )
    consent_text = models.TextField()
    instructions = models.TextField()
    n_training = models.PositiveIntegerField(
        null=True, blank=True, help_text="Training trials shown (default: all of the set's)."
    )
    n_test = models.PositiveIntegerField(
        null=True, blank=True, help_text="Test trials shown (default: all of the set's)."
    )
    exclusion_threshold = models.FloatField(
        default=0.2,
        help_text="Participants whose test accuracy is below this share are excluded (chance: 0.2).",
    )
    bonus_rule = models.JSONField(
        default=dict, blank=True, help_text='{"min_accuracy": 0.8, "amount": "0.50"}'
    )
    questionnaire = models.JSONField(
        default=list, blank=True, help_text="[{key, text}] 5-point Likert items."
    )
    demographics = models.JSONField(
        default=list,
        blank=True,
        help_text="[{key, text, kind: text|integer|choice, choices, required, min, max}]",
    )
    code_completed = models.CharField(max_length=40)
    code_screened_out = models.CharField(max_length=40, blank=True)
    code_failed_attention = models.CharField(max_length=40, blank=True)
    platforms = models.JSONField(
        default=list,
        blank=True,
        help_text='Platforms that may enter: any of "mturk", "prolific".',
    )
    allow_anonymous = models.BooleanField(
        default=False, help_text="Pilot link: anyone with /s/<slug>/ can take part, unpaid."
    )
    platform_settings = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"prolific_completion_url": "https://app.prolific.com/submissions/complete"}',
    )
    exclusive_set = models.CharField(
        max_length=60,
        blank=True,
        help_text="Studies sharing this name admit each person once across all of them.",
    )
    time_limit_minutes = models.PositiveIntegerField(default=60)
    # Ids ICE Lab made on a platform are kept outside the frozen configuration (they are
    # not what participants saw, and recording one must not start a new version).
    mturk_qualification_type_id = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text='The "has taken part" qualification made by study_mturk_setup.',
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    current_version = models.ForeignKey(
        "StudyVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(
                condition=Q(exclusion_threshold__gte=0) & Q(exclusion_threshold__lte=1),
                name="study_exclusion_threshold_is_a_share",
                violation_error_message=(
                    "exclusion_threshold must be a share between 0 and 1 (chance with five "
                    "candidates is 0.2)."
                ),
            ),
            models.CheckConstraint(
                condition=Q(time_limit_minutes__gt=0),
                name="study_has_a_time_limit",
                violation_error_message="time_limit_minutes must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(current_version__isnull=False),
                name="launched_study_has_a_version",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class StudyVersion(models.Model):
    """The configuration participants saw, frozen: :func:`studies.services.versions.study_config`."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "number"]
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="unique_study_version"),
        ]

    def __str__(self) -> str:
        return f"{self.study} v{self.number} ({self.sha256[:12]})"


class Group(models.Model):
    """One between-subjects condition: a frozen stimulus set. ``label`` is for researchers only."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="groups")
    stimulus_set = models.ForeignKey(
        "explainers.StimulusSet", on_delete=models.PROTECT, related_name="study_groups"
    )
    label = models.CharField(max_length=100)

    class Meta:
        ordering = ["study", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "label"], name="unique_group_label"),
            models.UniqueConstraint(
                fields=["study", "stimulus_set"], name="unique_group_stimulus_set"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study} · {self.label}"


class MTurkHIT(models.Model):
    """A HIT made for a study by :func:`studies.services.mturk_study.study_mturk_create_hit`.

    ``unique_request_token`` is derived from study, version and batch: a retry of the same
    batch finds this row (or MTurk refuses the token) instead of making a second HIT.
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="mturk_hits")
    version = models.ForeignKey(StudyVersion, on_delete=models.PROTECT, related_name="+")
    batch = models.PositiveIntegerField(default=1)
    hit_id = models.CharField(max_length=64, unique=True)
    hit_type_id = models.CharField(max_length=64)
    unique_request_token = models.CharField(max_length=64, unique=True)
    sandbox = models.BooleanField(help_text="Made on the requester sandbox (no money moves).")
    question_url = models.URLField()
    max_assignments = models.PositiveIntegerField()
    reward = models.DecimalField(max_digits=8, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "created_at"]
        verbose_name = "MTurk HIT"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "version", "batch", "sandbox"], name="one_hit_per_study_batch"
            ),
        ]

    def __str__(self) -> str:
        return f"HIT {self.hit_id} of {self.study} (v{self.version.number}, batch {self.batch})"
