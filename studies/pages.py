"""The participant's path, declared in one place (like oTree's ``page_sequence``).

``PAGE_SEQUENCE`` lists the pages in order; :class:`TrialPages` expands into a choice
page and a description page per trial of the participant's group. A participant's
position is an index into the expanded list (:func:`participant_flow`); the server keeps
it, every POST names the page it answers, and only the current page accepts answers.
Each page says which form it shows, what its template needs, and which service stores
its answers. Pages import those services where they call them: the services import this
module to walk the sequence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms

from explainers.selectors import trial_display, trials_by_id

from . import forms as study_forms
from .models import Participant
from .selectors import participant_response

if TYPE_CHECKING:  # the studies app reads explainers only through its selectors
    from explainers.models import Trial


@dataclass
class Flow:
    """One participant's expanded page sequence and what the pages need to render."""

    participant: Participant
    config: dict[str, Any]
    group: dict[str, Any]
    trials: dict[int, Trial]
    pages: list[Page] = field(default_factory=list)

    @property
    def current(self) -> Page:
        return self.pages[min(self.participant.page, len(self.pages) - 1)]


class Page:
    name: ClassVar[str] = ""
    template: ClassVar[str] = ""
    phase: ClassVar[str] = ""
    form_class: ClassVar[type[forms.Form] | None] = study_forms.ContinueForm

    def form(self, flow: Flow, data: Any = None) -> forms.Form | None:
        return self.form_class(data) if self.form_class is not None else None

    def context(self, flow: Flow) -> dict[str, Any]:
        return {}

    def submit(self, flow: Flow, cleaned: dict[str, Any], now: datetime) -> None:
        """Store the page's answers (called under the participant's row lock)."""


class ConsentPage(Page):
    name = "consent"
    template = "studies/consent.html"
    form_class = study_forms.ConsentForm

    def context(self, flow: Flow) -> dict[str, Any]:
        return {"consent_text": flow.config["consent_text"]}

    def submit(self, flow: Flow, cleaned: dict[str, Any], now: datetime) -> None:
        if cleaned["decision"] == "decline":
            from .services.answers import participant_decline

            participant_decline(participant=flow.participant, now=now)


class InstructionsPage(Page):
    name = "instructions"
    template = "studies/instructions.html"

    def context(self, flow: Flow) -> dict[str, Any]:
        return {
            "instructions": flow.config["instructions"],
            "n_training": len(flow.group["training"]),
            "n_test": len(flow.group["test"]),
        }


class TrialPage(Page):
    def __init__(self, *, trial_id: int, phase: str, number: int, of: int) -> None:
        self.trial_id, self.phase, self.number, self.of = trial_id, phase, number, of

    def context(self, flow: Flow) -> dict[str, Any]:
        trial = flow.trials[self.trial_id]
        return {
            "trial": trial_rows(participant=flow.participant, trial=trial),
            "phase": self.phase,
            "number": self.number,
            "of": self.of,
            "training_numbers": range(1, len(flow.group["training"]) + 1)
            if self.phase == "test"
            else (),
        }


class ChoicePage(TrialPage):
    name = "choice"
    template = "studies/choice.html"
    form_class = study_forms.ChoiceForm

    def submit(self, flow: Flow, cleaned: dict[str, Any], now: datetime) -> None:
        from .services.answers import quality_events_store, response_store

        trial = flow.trials[self.trial_id]
        response_store(
            participant=flow.participant, trial=trial, position=cleaned["choice"], now=now
        )
        quality_events_store(
            participant=flow.participant, trial=trial, page=flow.participant.page, counts=cleaned
        )


class DescribePage(TrialPage):
    name = "describe"
    template = "studies/describe.html"
    form_class = study_forms.DescriptionsForm

    def context(self, flow: Flow) -> dict[str, Any]:
        context = super().context(flow)
        response = participant_response(participant=flow.participant, trial_id=self.trial_id)
        context["chosen"] = response.chosen_position
        if self.phase == "training":  # training shows the answer after the choice
            context["correct"] = correct_position(
                participant=flow.participant, trial=flow.trials[self.trial_id]
            )
        return context

    def submit(self, flow: Flow, cleaned: dict[str, Any], now: datetime) -> None:
        from .services.answers import descriptions_store, quality_events_store

        trial = flow.trials[self.trial_id]
        descriptions_store(
            participant=flow.participant,
            trial=trial,
            texts={n: cleaned[f"row{n}"] for n in range(1, study_forms.N_ROWS + 1)},
        )
        quality_events_store(
            participant=flow.participant, trial=trial, page=flow.participant.page, counts=cleaned
        )


class QuestionnairePage(Page):
    name = "questionnaire"
    template = "studies/questionnaire.html"

    def form(self, flow: Flow, data: Any = None) -> forms.Form:
        return study_forms.QuestionnaireForm(data, items=flow.config["questionnaire"])

    def submit(self, flow: Flow, cleaned: dict[str, Any], now: datetime) -> None:
        from .services.answers import questionnaire_store

        questionnaire_store(participant=flow.participant, answers=cleaned)


class DemographicsPage(Page):
    name = "demographics"
    template = "studies/demographics.html"

    def form(self, flow: Flow, data: Any = None) -> forms.Form:
        return study_forms.DemographicsForm(data, items=flow.config["demographics"])

    def submit(self, flow: Flow, cleaned: dict[str, Any], now: datetime) -> None:
        from .services.answers import demographics_store

        demographics_store(participant=flow.participant, answers=cleaned)


class CompletionPage(Page):
    """The end: the completion code (and the platform's way back). Takes no answers."""

    name = "completion"
    template = "studies/completion.html"
    form_class = None


@dataclass(frozen=True)
class TrialPages:
    """Expands into a choice and a description page for each of the group's ``phase`` trials."""

    phase: str

    def expand(self, group: dict[str, Any]) -> list[Page]:
        ids = group[self.phase]
        pages: list[Page] = []
        for number, trial_id in enumerate(ids, start=1):
            for page_class in (ChoicePage, DescribePage):
                pages.append(
                    page_class(trial_id=trial_id, phase=self.phase, number=number, of=len(ids))
                )
        return pages


PAGE_SEQUENCE = (
    ConsentPage,
    InstructionsPage,
    TrialPages("training"),
    TrialPages("test"),
    QuestionnairePage,
    DemographicsPage,
    CompletionPage,
)


def participant_flow(participant: Participant) -> Flow:
    config = participant.version.config
    group = next(g for g in config["groups"] if g["id"] == participant.group_id)
    flow = Flow(
        participant=participant,
        config=config,
        group=group,
        trials=trials_by_id(ids=group["training"] + group["test"]),
    )
    for entry in PAGE_SEQUENCE:
        flow.pages.extend(entry.expand(group) if isinstance(entry, TrialPages) else [entry()])
    return flow


def trial_order_seed(*, participant: Participant, trial: Trial) -> int:
    """The seed of the candidate order of ``trial`` for ``participant`` (from their stored seed)."""
    digest = hashlib.sha256(f"{participant.order_seed}:{trial.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shown_candidates(*, participant: Participant, trial: Trial) -> list[int]:
    """Indexes into ``trial.candidates`` of the rows as shown, top to bottom."""
    display = trial_display(
        trial=trial, order_seed=trial_order_seed(participant=participant, trial=trial)
    )
    return [row["key"] for row in display["rows"]]


def trial_rows(*, participant: Participant, trial: Trial) -> dict[str, Any]:
    """What the trial page shows: the target image and the rows by position, nothing else.

    The candidate indexes (``key``) stay on the server: the page knows rows by position only.
    """
    display = trial_display(
        trial=trial, order_seed=trial_order_seed(participant=participant, trial=trial)
    )
    return {
        "target": display["target"],
        "rows": [
            {"label": row["label"], "prototypes": row["prototypes"]} for row in display["rows"]
        ],
    }


def correct_position(*, participant: Participant, trial: Trial) -> int:
    shown = shown_candidates(participant=participant, trial=trial)
    concepts = [trial.candidates[key]["concept"] for key in shown]
    return concepts.index(trial.target_concept) + 1
