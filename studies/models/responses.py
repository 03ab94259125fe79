"""What participants answered: trial responses, descriptions, questionnaire, demographics, events.

Rows refer to concepts by foreign key (so per-concept analysis needs no index
arithmetic) and to the version the participant saw. Uniqueness is enforced by the
database: one response per (participant, trial), one description per concept of a
response, one answer per questionnaire or demographics item.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class TrialResponse(models.Model):
    participant = models.ForeignKey(
        "studies.Participant", on_delete=models.PROTECT, related_name="responses"
    )
    version = models.ForeignKey(
        "studies.StudyVersion", on_delete=models.PROTECT, related_name="responses"
    )
    trial = models.ForeignKey("explainers.Trial", on_delete=models.PROTECT, related_name="+")
    phase = models.CharField(max_length=10)
    chosen_concept = models.ForeignKey(
        "explainers.Concept", on_delete=models.PROTECT, related_name="+"
    )
    chosen_position = models.PositiveSmallIntegerField(
        help_text="1-based row the participant picked."
    )
    shown_order = models.JSONField(
        help_text="Concept ids of the rows as shown, top to bottom (from the participant's seed)."
    )
    is_correct = models.BooleanField()
    rt_ms = models.PositiveIntegerField(
        help_text="Server time from showing the trial to the choice."
    )
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "answered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "trial"], name="one_response_per_participant_trial"
            ),
            models.CheckConstraint(
                condition=Q(chosen_position__gte=1) & Q(chosen_position__lte=5),
                name="response_chosen_position_is_a_row",
            ),
        ]

    def __str__(self) -> str:
        return f"response of {self.participant_id} to trial {self.trial_id}"


class Description(models.Model):
    """A participant's 1-2 word description of one candidate concept of a trial."""

    response = models.ForeignKey(
        TrialResponse, on_delete=models.PROTECT, related_name="descriptions"
    )
    concept = models.ForeignKey("explainers.Concept", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(help_text="1-based row it was shown in.")
    text = models.CharField(max_length=40)

    class Meta:
        ordering = ["response", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["response", "concept"], name="one_description_per_concept"
            ),
            models.CheckConstraint(condition=~Q(text=""), name="description_is_not_empty"),
        ]


class QuestionnaireAnswer(models.Model):
    participant = models.ForeignKey(
        "studies.Participant", on_delete=models.PROTECT, related_name="questionnaire_answers"
    )
    version = models.ForeignKey("studies.StudyVersion", on_delete=models.PROTECT, related_name="+")
    item = models.CharField(max_length=60)
    value = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["participant", "item"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "item"], name="one_questionnaire_answer_per_item"
            ),
            models.CheckConstraint(
                condition=Q(value__gte=1) & Q(value__lte=5), name="likert_value_is_1_to_5"
            ),
        ]


class DemographicAnswer(models.Model):
    participant = models.ForeignKey(
        "studies.Participant", on_delete=models.PROTECT, related_name="demographic_answers"
    )
    version = models.ForeignKey("studies.StudyVersion", on_delete=models.PROTECT, related_name="+")
    item = models.CharField(max_length=60)
    value = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["participant", "item"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "item"], name="one_demographic_answer_per_item"
            ),
        ]


class Event(models.Model):
    """Something a participant did that is not an answer: page views, revisits, quality signals."""

    class Kind(models.TextChoices):
        PAGE_VIEW = "page_view", "Page view"
        REVISIT = "revisit", "Training trial revisited"
        FOCUS_LOSS = "focus_loss", "Focus lost"
        PASTE = "paste", "Paste into a text field"
        STATUS = "status", "Status changed"
        ATTEMPT = "attempt", "Arrived (new attempt or resume)"

    participant = models.ForeignKey(
        "studies.Participant", on_delete=models.PROTECT, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    page = models.PositiveIntegerField(null=True, blank=True)
    trial = models.ForeignKey(
        "explainers.Trial", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "at", "pk"]
        indexes = [models.Index(fields=["participant", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} of {self.participant_id}"
