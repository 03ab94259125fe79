"""The studies app's data: studies and their frozen versions, participants, responses.

One module per seam; everything is importable from ``studies.models``.
"""

from .participants import Attempt, Participant, ParticipantStatus, Platform
from .responses import DemographicAnswer, Description, Event, QuestionnaireAnswer, TrialResponse
from .study import Group, Study, StudyVersion

__all__ = [
    "Attempt",
    "DemographicAnswer",
    "Description",
    "Event",
    "Group",
    "Participant",
    "ParticipantStatus",
    "Platform",
    "QuestionnaireAnswer",
    "Study",
    "StudyVersion",
    "TrialResponse",
]
