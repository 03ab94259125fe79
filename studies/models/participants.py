"""Participants (people, keyed per platform and study) and their attempts (assignments, sessions)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class Platform(models.TextChoices):
    MTURK = "mturk", "Amazon Mechanical Turk"
    PROLIFIC = "prolific", "Prolific"
    ANONYMOUS = "anonymous", "Anonymous pilot link"


class ParticipantStatus(models.TextChoices):
    STARTED = "started", "Started"
    COMPLETED = "completed", "Completed"
    TIMED_OUT = "timed_out", "Timed out"
    RETURNED = "returned", "Returned"
    EXCLUDED = "excluded", "Excluded"


# Statuses only move forward. A completed participant may still be excluded (below-chance
# accuracy, or a researcher's review); nothing ever goes back to "started".
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    ParticipantStatus.STARTED: frozenset(
        {
            ParticipantStatus.COMPLETED,
            ParticipantStatus.TIMED_OUT,
            ParticipantStatus.RETURNED,
            ParticipantStatus.EXCLUDED,
        }
    ),
    ParticipantStatus.COMPLETED: frozenset({ParticipantStatus.EXCLUDED}),
    ParticipantStatus.TIMED_OUT: frozenset(),
    ParticipantStatus.RETURNED: frozenset(),
    ParticipantStatus.EXCLUDED: frozenset(),
}


class Participant(models.Model):
    """One person in one study. Their URL token is their identity: no cookie is involved."""

    study = models.ForeignKey(
        "studies.Study", on_delete=models.PROTECT, related_name="participants"
    )
    version = models.ForeignKey(
        "studies.StudyVersion", on_delete=models.PROTECT, related_name="participants"
    )
    group = models.ForeignKey(
        "studies.Group", on_delete=models.PROTECT, related_name="participants"
    )
    platform = models.CharField(max_length=10, choices=Platform.choices)
    external_id = models.CharField(
        max_length=100, help_text="MTurk worker ID, Prolific PID, or a random ID for pilots."
    )
    exclusive_set = models.CharField(max_length=60, blank=True, editable=False)
    url_token = models.CharField(max_length=64, unique=True, editable=False)
    form_token = models.CharField(max_length=64, editable=False)
    status = models.CharField(
        max_length=10, choices=ParticipantStatus.choices, default=ParticipantStatus.STARTED
    )
    page = models.PositiveIntegerField(default=0, help_text="Index of the current page.")
    page_shown_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current page was first shown (response times)."
    )
    order_seed = models.BigIntegerField(
        help_text="Seeds the candidate order of every trial and the assignment tie-break."
    )
    started_at = models.DateTimeField()
    deadline = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="When the status last changed from started."
    )
    completion_code = models.CharField(max_length=40, blank=True)
    exclusion_rule = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["study", "started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "platform", "external_id"], name="one_participant_per_person"
            ),
            models.UniqueConstraint(
                fields=["exclusive_set", "platform", "external_id"],
                condition=~Q(exclusive_set=""),
                name="one_study_per_person_in_a_set",
            ),
            models.CheckConstraint(
                condition=Q(deadline__gt=F("started_at")), name="participant_deadline_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False),
                name="completed_participant_has_completed_at",
            ),
            models.CheckConstraint(
                condition=~Q(status="excluded") | ~Q(exclusion_rule=""),
                name="excluded_participant_names_the_rule",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ParticipantStatus]),
                name="participant_status_is_known",
            ),
        ]
        indexes = [models.Index(fields=["version", "group", "status"])]

    def __str__(self) -> str:
        return f"{self.platform}:{self.external_id} in {self.study_id}"


class Attempt(models.Model):
    """One arrival of a participant: an MTurk assignment or a Prolific session."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="attempts")
    attempt_id = models.CharField(
        max_length=100, help_text="MTurk assignmentId, Prolific SESSION_ID or a pilot's random ID."
    )
    platform_study_id = models.CharField(
        max_length=100, blank=True, help_text="MTurk hitId or Prolific STUDY_ID."
    )
    turk_submit_to = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["participant", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "attempt_id"], name="unique_attempt"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt_id} of {self.participant}"
