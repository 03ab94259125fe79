"""The bonus ledger: every bonus ICE Lab means to pay, recorded before it is sent.

A row is written (PENDING) and committed before the platform is called, so a crash at
any point leaves a trace; the database refuses a second row for the same worker and
assignment, so no assignment is ever bonused twice. Writes go through
:mod:`studies.services.bonus_payments`.

Rows are keyed by the platform's own id strings: the ledger's uniqueness and its request
tokens are about a platform account and assignment. ``participant`` links a row to the
ICE Lab participant it was computed for (for the admin); it is optional and never part of
a key, so the ledger stands on its own.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q


class PaymentPlatform(models.TextChoices):
    MTURK = "mturk", "Amazon Mechanical Turk"
    PROLIFIC = "prolific", "Prolific"


class BonusStatus(models.TextChoices):
    PENDING = "pending", "Pending: recorded, not confirmed paid"
    PAID = "paid", "Paid"
    REFUSED = "refused", "Refused by the platform: nothing paid"
    NEEDS_CHECK = "needs_check", "Outcome unknown: check on the platform"


class BonusPayment(models.Model):
    Platform = PaymentPlatform
    Status = BonusStatus

    platform = models.CharField(max_length=20, choices=Platform.choices)
    study_key = models.CharField(
        max_length=100, help_text="ICE Lab's identifier of the study the bonus is for."
    )
    platform_study_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="Prolific: the study's id on Prolific (STUDY_ID). MTurk: the HIT id.",
    )
    worker_id = models.CharField(
        max_length=64, help_text="MTurk WorkerId or Prolific participant id (PROLIFIC_PID)."
    )
    assignment_id = models.CharField(
        max_length=64, help_text="MTurk AssignmentId or Prolific submission id (SESSION_ID)."
    )
    participant = models.ForeignKey(
        "studies.Participant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="bonus_payments",
        help_text="The participant whose result earned the bonus (when paid by study_bonuses_pay).",
    )
    amount = models.DecimalField(max_digits=8, decimal_places=2)
    reason = models.TextField(help_text="Shown to the worker.")
    unique_request_token = models.CharField(
        max_length=64,
        unique=True,
        editable=False,
        help_text="Derived from study, worker and assignment: the same on every retry.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, editable=False)
    sent_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When a payment request last went out; set means it may have been paid.",
    )
    external_id = models.CharField(
        max_length=100, blank=True, editable=False, help_text="Prolific's bulk bonus id."
    )
    error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "worker_id", "assignment_id"],
                name="one_bonus_per_worker_assignment",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=Decimal("0")), name="bonus_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(status__in=BonusStatus.values),
                name="bonus_status_known",
            ),
            models.CheckConstraint(
                condition=Q(status=BonusStatus.PAID, paid_at__isnull=False)
                | (~Q(status=BonusStatus.PAID) & Q(paid_at__isnull=True)),
                name="bonus_paid_at_iff_paid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} to {self.worker_id} for {self.assignment_id} ({self.status})"
