"""The study's data as the five tidy frames :mod:`analysis.stats` takes (see its ``frames``).

Each frame is one query (``values()`` into a DataFrame), whatever the number of
participants; the positions of trials and the trial a training revisit happened in are
worked out from each version's frozen configuration, never per participant.

Participants are identified here by ``"<platform>:<external id>"`` (unique within a
study, and the same person keeps it across studies). These raw IDs never leave the
server: the report pseudonymises them with :func:`analysis.stats.pseudonym` under
``ICELAB_PSEUDONYM_KEY`` (:func:`participant_pseudonym` finds one person's row).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.db.models import Count, F, Q

from analysis.stats import CONCEPTS, DESCRIPTIONS, PARTICIPANTS, QUESTIONNAIRE, RESPONSES
from analysis.stats.pseudonyms import pseudonym
from explainers.selectors import stimulus_set_concepts
from jobs.models import Job
from studies.models import (
    Description,
    Event,
    Participant,
    ParticipantStatus,
    QuestionnaireAnswer,
    Study,
    StudyVersion,
    TrialResponse,
)
from studies.pages import PAGE_SEQUENCE, TrialPages

# What identifies a participant, their group and its condition, through each row's relations.
_WHO = {"platform": F("participant__platform"), "external_id": F("participant__external_id")}
_CONDITION = {
    "group": F("participant__group__label"),
    "scenario": F("participant__group__stimulus_set__scenario__name"),
    "reducer": F("participant__group__stimulus_set__reducer"),
}


@dataclass(frozen=True)
class StudyFrames:
    """The inputs of :func:`analysis.stats.build_report` for one study."""

    responses: pd.DataFrame
    descriptions: pd.DataFrame
    questionnaire: pd.DataFrame
    participants: pd.DataFrame
    concepts: pd.DataFrame


def participant_key(platform: str, external_id: str) -> str:
    """The raw ID a participant has in the frames (pseudonymised in every export)."""
    return f"{platform}:{external_id}"


def participant_pseudonym(*, participant: Participant) -> str:
    """The pseudonym of ``participant`` in exported reports (to find one person's rows)."""
    key = participant_key(participant.platform, participant.external_id)
    return pseudonym(key, settings.ICELAB_PSEUDONYM_KEY)


def study_frames(*, study: Study) -> StudyFrames:
    """All five frames of ``study`` (eight queries in all, for any number of participants)."""
    concepts = study_concepts(study=study)
    return StudyFrames(
        responses=study_responses(study=study, concepts=concepts),
        descriptions=study_descriptions(study=study),
        questionnaire=study_questionnaire(study=study),
        participants=study_participants(study=study),
        concepts=concepts.drop(columns=["run_id", "index"]),
    )


def study_participants(*, study: Study) -> pd.DataFrame:
    """One row per participant: ID, group, scenario, reducer, status, the rule that excluded
    them during the study (if any), platform, the sha256 of the version they saw."""
    rows = (
        Participant.objects.filter(study=study)
        .order_by("started_at", "pk")
        .values(
            "platform",
            "external_id",
            "status",
            "exclusion_rule",
            group_label=F("group__label"),
            scenario=F("group__stimulus_set__scenario__name"),
            reducer=F("group__stimulus_set__reducer"),
            version_hash=F("version__sha256"),
        )
    )
    frame = _with_key(pd.DataFrame.from_records(list(rows))).rename(
        columns={"group_label": "group"}
    )
    return _ordered(frame, [*PARTICIPANTS.columns, "exclusion_rule"])


def study_concepts(*, study: Study) -> pd.DataFrame:
    """One row per concept the study's trials draw on: scenario, reducer, concept (its id),
    class_name, best_part (None where the alignment found none), best_iou; plus the run and
    the concept's index in it (how trials name their target)."""
    set_ids = list(study.groups.values_list("stimulus_set_id", flat=True))
    rows = [
        {
            "scenario": concept.run.scenario.name,
            "reducer": concept.run.reducer,
            "concept": concept.pk,
            "class_name": concept.run.class_name,
            "best_part": concept.best_part or None,
            "best_iou": concept.best_part_iou,
            "run_id": concept.run_id,
            "index": concept.index,
        }
        for concept in stimulus_set_concepts(stimulus_set_ids=set_ids).only(
            "pk",
            "index",
            "run_id",
            "best_part",
            "best_part_iou",
            "run__reducer",
            "run__class_name",
            "run__scenario__name",
        )
    ]
    return pd.DataFrame(rows, columns=[*CONCEPTS.columns, "run_id", "index"])


def study_responses(*, study: Study, concepts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per trial response: who, the condition, phase, position in the session (1-based,
    training first), trial, class, target and chosen concept ids, the candidate concept ids
    top to bottom as shown (``"12|9|15|10|11"``), the row chosen, correct, rt_ms, the
    version's sha256 and the training trials reopened while it was on screen."""
    if concepts is None:
        concepts = study_concepts(study=study)
    rows = list(
        TrialResponse.objects.filter(participant__study=study)
        .order_by("participant__started_at", "participant_id", "answered_at", "pk")
        .values(
            "participant_id",
            "phase",
            "trial_id",
            "rt_ms",
            "shown_order",
            "chosen_position",
            "chosen_concept_id",
            "version_id",
            **_WHO,
            **_CONDITION,
            group_id=F("participant__group_id"),
            class_name=F("trial__class_name"),
            target_index=F("trial__target_concept"),
            run_id=F("trial__run_id"),
            correct=F("is_correct"),
            version_hash=F("version__sha256"),
        )
    )
    layouts = _version_layouts(study)
    revisits = _revisits(study, layouts)
    target_ids = {
        (r, i): c for r, i, c in concepts[["run_id", "index", "concept"]].itertuples(False)
    }
    for row in rows:
        layout = layouts[row["version_id"]][row["group_id"]]
        row["position"] = layout.positions.get(row["trial_id"])
        row["target_concept"] = target_ids.get((row["run_id"], row["target_index"]))
        row["shown_order"] = "|".join(str(c) for c in row["shown_order"])
        row["revisits"] = revisits[(row["participant_id"], row["trial_id"])]
    frame = _with_key(pd.DataFrame.from_records(rows)).rename(
        columns={"chosen_concept_id": "chosen_concept"}
    )
    return _ordered(frame, [*RESPONSES.columns, "chosen_position"])


def study_descriptions(*, study: Study) -> pd.DataFrame:
    """One row per description: who, the condition, concept id, text, trial."""
    rows = (
        Description.objects.filter(response__participant__study=study)
        .order_by("response__participant_id", "response__answered_at", "position")
        .values(
            "text",
            "concept_id",
            trial_id=F("response__trial_id"),
            **{
                name: F(f"response__{expression.name}")
                for name, expression in {**_WHO, **_CONDITION}.items()
            },
        )
    )
    frame = _with_key(pd.DataFrame.from_records(list(rows))).rename(
        columns={"concept_id": "concept"}
    )
    return _ordered(frame, DESCRIPTIONS.columns)


def study_questionnaire(*, study: Study) -> pd.DataFrame:
    """One row per questionnaire answer: who, item, value (1-5)."""
    rows = (
        QuestionnaireAnswer.objects.filter(participant__study=study)
        .order_by("participant_id", "item")
        .values("item", "value", **_WHO)
    )
    frame = _with_key(pd.DataFrame.from_records(list(rows)))
    return _ordered(frame, QUESTIONNAIRE.columns)


def study_progress(*, study: Study) -> dict[str, int]:
    """How many participants the study has in all, completed, and still in progress."""
    return Participant.objects.filter(study=study).aggregate(
        total=Count("pk"),
        completed=Count("pk", filter=Q(status=ParticipantStatus.COMPLETED)),
        in_progress=Count("pk", filter=Q(status=ParticipantStatus.STARTED)),
    )


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Layout:
    """One group's path in one version: trial id -> position, page index -> trial id."""

    positions: dict[int, int]
    page_trials: dict[int, int]


def _version_layouts(study: Study) -> dict[int, dict[int, _Layout]]:
    """{version id: {group id: layout}}, from each version's frozen configuration (one query)."""
    layouts: dict[int, dict[int, _Layout]] = {}
    for version_id, config in StudyVersion.objects.filter(study=study).values_list("pk", "config"):
        layouts[version_id] = {group["id"]: _layout(group) for group in config.get("groups", [])}
    return layouts


def _layout(group: dict[str, Any]) -> _Layout:
    trials = [*group["training"], *group["test"]]
    pages = []
    for entry in PAGE_SEQUENCE:  # the participant's page indexes, as studies.pages lays them out
        pages.extend(entry.expand(group) if isinstance(entry, TrialPages) else [entry])
    return _Layout(
        positions={trial_id: number for number, trial_id in enumerate(trials, start=1)},
        page_trials={
            index: page.trial_id for index, page in enumerate(pages) if hasattr(page, "trial_id")
        },
    )


def _revisits(study: Study, layouts: dict[int, dict[int, _Layout]]) -> Counter:
    """{(participant id, trial id): training trials reopened while that trial was shown}."""
    counts: Counter = Counter()
    events = Event.objects.filter(participant__study=study, kind=Event.Kind.REVISIT).values_list(
        "participant_id", "participant__version_id", "participant__group_id", "page"
    )
    for participant_id, version_id, group_id, page in events:
        trial_id = layouts[version_id][group_id].page_trials.get(page)
        if trial_id is not None:
            counts[(participant_id, trial_id)] += 1
    return counts


def _with_key(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a ``participant`` column (``platform:external_id``) instead of both parts."""
    if frame.empty:
        return frame.assign(participant=pd.Series(dtype=object))
    keys = frame["platform"].astype(str) + ":" + frame["external_id"].astype(str)
    return frame.drop(columns=["external_id"]).assign(participant=keys)


def _ordered(frame: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The frame's columns in the schema's order (absent ones added empty), nothing else."""
    return frame.reindex(columns=list(columns)).reset_index(drop=True)


def study_reports(*, study: Study) -> list[dict[str, Any]]:
    """The study's stored reports, newest first: each one's summary (see
    :class:`analysis.services.StoredReport`) with a download URL per file.

    Only reports whose ``summary.json`` is stored are listed: it is stored last, so a
    report still being stored (or one that failed half-way) is never offered.
    """
    from django.core.files.storage import default_storage

    root = f"reports/{study.slug}"
    try:
        run_ids, _ = default_storage.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    reports = []
    for run_id in sorted(run_ids, reverse=True):
        name = f"{root}/{run_id}/summary.json"
        if not default_storage.exists(name):
            continue
        with default_storage.open(name, "rb") as handle:
            summary = json.loads(handle.read())
        summary["urls"] = {
            file: default_storage.url(stored) for file, stored in summary["files"].items()
        }
        reports.append(summary)
    return reports


def study_report_jobs(*, study: Study, limit: int = 20) -> list[Job]:
    """The study's latest report jobs, newest first (their status, progress and notes)."""
    from .job_kinds import STUDY_REPORT

    return list(Job.objects.filter(kind=STUDY_REPORT, params__study=study.pk)[:limit])
