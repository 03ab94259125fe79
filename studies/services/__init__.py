"""Writes of the studies app (HackSoft style: ``<entity>_<action>(*, ...)``), one module per area.

- :mod:`.studies`: create, edit, launch (freezes a version), pause, close
- :mod:`.versions`: the frozen configuration and its sha256
- :mod:`.arrivals`: platform URL parameters -> an :class:`~.arrivals.Arrival`
- :mod:`.participants`: entering (balanced assignment in :mod:`.assignment`), statuses, time limits
- :mod:`.answers`: one POST answers the current page, once; completion and codes
- :mod:`.bots`: simulated participants walking the real pages
- :mod:`.bonus_payments`: the bonus ledger (pay each bonus once, through the platform clients)
- :mod:`.mturk_study`: a study's MTurk qualification (granted by a job), HITs, approvals
- :mod:`.prolific_study`: free the places of participants who returned or timed out on Prolific
- :mod:`.study_bonuses`: who earned the study's bonus, paid through the ledger
- :mod:`.erasure`: deleting one participant's data on request
"""

from .answers import Outcome, page_shown, page_submit, training_revisit
from .arrivals import Arrival, arrival_from_params
from .assignment import group_fill, participant_assign_group
from .bots import participants_simulate
from .erasure import ParticipantNotFound, participant_delete
from .mturk_study import (
    participant_mturk_grant,
    study_mturk_approve,
    study_mturk_create_hit,
    study_mturk_grants_submit,
    study_mturk_setup,
)
from .participants import (
    AlreadyTookPart,
    StudyNotOpen,
    participant_enter,
    participant_set_status,
    participants_expire,
)
from .prolific_study import study_prolific_sync
from .studies import group_add, study_close, study_create, study_launch, study_pause, study_update
from .study_bonuses import study_bonuses_pay

__all__ = [
    "AlreadyTookPart",
    "Arrival",
    "Outcome",
    "ParticipantNotFound",
    "StudyNotOpen",
    "arrival_from_params",
    "group_add",
    "group_fill",
    "page_shown",
    "page_submit",
    "participant_assign_group",
    "participant_delete",
    "participant_enter",
    "participant_mturk_grant",
    "participant_set_status",
    "participants_expire",
    "participants_simulate",
    "study_close",
    "study_create",
    "study_bonuses_pay",
    "study_launch",
    "study_mturk_approve",
    "study_mturk_create_hit",
    "study_mturk_grants_submit",
    "study_mturk_setup",
    "study_pause",
    "study_prolific_sync",
    "study_update",
    "training_revisit",
]
