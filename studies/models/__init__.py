"""The studies app's data: studies and their frozen versions, participants, responses.

One module per seam; everything is importable from ``studies.models``.
"""

from .participants import Attempt, Participant, ParticipantStatus, Platform
from .payments import BonusPayment, BonusStatus, PaymentPlatform
from .responses import DemographicAnswer, Description, Event, QuestionnaireAnswer, TrialResponse
from .study import Group, MTurkHIT, Study, StudyVersion

__all__ = [
    "Attempt",
    "BonusPayment",
    "BonusStatus",
    "DemographicAnswer",
    "Description",
    "Event",
    "Group",
    "MTurkHIT",
    "Participant",
    "PaymentPlatform",
    "ParticipantStatus",
    "Platform",
    "QuestionnaireAnswer",
    "Study",
    "StudyVersion",
    "TrialResponse",
]
