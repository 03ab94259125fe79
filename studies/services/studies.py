"""Creating, editing, launching, pausing and closing studies."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction

from explainers.selectors import ready_stimulus_sets
from icelab.errors import ServiceError

from ..defaults import (
    DEFAULT_CONSENT,
    DEFAULT_DEMOGRAPHICS,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_QUESTIONNAIRE,
)
from ..models import Group, Platform, Study
from .versions import CONFIG_FIELDS, study_version_sync

if TYPE_CHECKING:  # the studies app reads explainers only through its services and selectors
    from explainers.models import StimulusSet

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_DEMOGRAPHIC_KINDS = ("text", "integer", "choice")
PAID_PLATFORMS = (Platform.MTURK.value, Platform.PROLIFIC.value)


@transaction.atomic
def study_create(
    *,
    slug: str,
    title: str,
    stimulus_sets: Sequence[StimulusSet],
    labels: Sequence[str] | None = None,
    platforms: Sequence[str] = PAID_PLATFORMS,
    **config: Any,
) -> Study:
    """A draft study with one group per stimulus set (``labels`` name the groups for researchers).

    ``config`` takes any field of :class:`Study` (consent_text, n_test, questionnaire, …);
    omitted ones get the defaults of :mod:`studies.defaults`.
    """
    unknown = set(config) - set(CONFIG_FIELDS)
    if unknown:
        raise ServiceError(
            f"study_create got unknown settings {sorted(unknown)}; use fields of Study: "
            f"{', '.join(CONFIG_FIELDS)}."
        )
    if not stimulus_sets:
        raise ServiceError("A study needs at least one stimulus set (one group each).")
    if labels is not None and len(labels) != len(stimulus_sets):
        raise ServiceError(
            f"Got {len(labels)} labels for {len(stimulus_sets)} stimulus sets; give one label per set."
        )
    study = Study(
        slug=slug,
        title=title,
        consent_text=config.pop("consent_text", DEFAULT_CONSENT),
        instructions=config.pop("instructions", DEFAULT_INSTRUCTIONS),
        questionnaire=config.pop("questionnaire", DEFAULT_QUESTIONNAIRE),
        demographics=config.pop("demographics", DEFAULT_DEMOGRAPHICS),
        code_completed=config.pop("code_completed", "") or _new_code(),
        platforms=list(platforms),
        **config,
    )
    _validate(study)
    study.save()
    for index, stimulus_set in enumerate(stimulus_sets):
        label = labels[index] if labels is not None else _default_label(stimulus_set)
        group_add(study=study, stimulus_set=stimulus_set, label=label)
    return study


def group_add(*, study: Study, stimulus_set: StimulusSet, label: str) -> Group:
    """Add a group to a draft study; launched studies keep their groups (participants compare them)."""
    if study.status != Study.Status.DRAFT:
        raise ServiceError(
            f"Study {study.slug!r} is {study.status}: groups can only be added to a draft study."
        )
    if not ready_stimulus_sets().filter(pk=stimulus_set.pk).exists():
        raise ServiceError(
            f"Stimulus set {stimulus_set.pk} is {stimulus_set.status}; build it before adding it."
        )
    group = Group(study=study, stimulus_set=stimulus_set, label=label)
    group.full_clean()
    group.save()
    _check_trial_counts(study)
    return group


@transaction.atomic
def study_update(*, study: Study, **changes: Any) -> Study:
    """Change settings; a launched study gets a new version if anybody has started the current one."""
    unknown = set(changes) - set(CONFIG_FIELDS) - {"slug"}
    if unknown or "slug" in changes:
        raise ServiceError(
            f"study_update cannot change {sorted(unknown | ({'slug'} & set(changes)))}; "
            f"change any of {', '.join(f for f in CONFIG_FIELDS if f != 'slug')}."
        )
    locked = Study.objects.select_for_update().get(pk=study.pk)
    if locked.status == Study.Status.CLOSED:
        raise ServiceError(f"Study {locked.slug!r} is closed; copy it into a new study instead.")
    for field, value in changes.items():
        setattr(locked, field, value)
    _validate(locked)
    _check_trial_counts(locked)
    locked.save()
    if locked.status != Study.Status.DRAFT:
        study_version_sync(study=locked)
    return locked


def study_launch(*, study: Study) -> Study:
    """Freeze the groups' stimulus sets and the configuration, and open the study (also resumes a pause)."""
    from explainers.services import stimulus_set_freeze  # imports torch: only when launching

    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        if locked.status == Study.Status.CLOSED:
            raise ServiceError(f"Study {locked.slug!r} is closed and cannot be launched again.")
        groups = list(locked.groups.select_related("stimulus_set"))
        if not groups:
            raise ServiceError(f"Study {locked.slug!r} has no groups; add a stimulus set first.")
        for group in groups:
            stimulus_set_freeze(stimulus_set=group.stimulus_set)
        _check_trial_counts(locked)
        locked.status = Study.Status.LIVE
        study_version_sync(study=locked)
        locked.save(update_fields=["status"])
    return locked


def study_pause(*, study: Study) -> Study:
    """Stop new arrivals and page submissions; participants see a "paused" page until it resumes."""
    return _set_status(study, Study.Status.PAUSED, allowed_from=(Study.Status.LIVE,))


def study_close(*, study: Study) -> Study:
    """End the study for good: no new participants, no more answers."""
    return _set_status(
        study, Study.Status.CLOSED, allowed_from=(Study.Status.LIVE, Study.Status.PAUSED)
    )


@transaction.atomic
def _set_status(study: Study, status: str, *, allowed_from: tuple[str, ...]) -> Study:
    locked = Study.objects.select_for_update().get(pk=study.pk)
    if locked.status == status:
        return locked
    if locked.status not in allowed_from:
        raise ServiceError(
            f"Study {locked.slug!r} is {locked.status}; only a study that is "
            f"{' or '.join(allowed_from)} can become {status}."
        )
    locked.status = status
    locked.save(update_fields=["status"])
    return locked


def _new_code() -> str:
    return secrets.token_hex(4).upper()


def _default_label(stimulus_set: StimulusSet) -> str:
    return f"{stimulus_set.scenario.name} · {stimulus_set.reducer} · set {stimulus_set.pk}"


def _validate(study: Study) -> None:
    study.full_clean(exclude=["current_version"], validate_unique=True)
    bad = [p for p in study.platforms if p not in PAID_PLATFORMS]
    if bad or not isinstance(study.platforms, list):
        raise ServiceError(
            {
                "platforms": f"platforms={study.platforms!r}; use a list of {', '.join(PAID_PLATFORMS)}."
            }
        )
    if not study.platforms and not study.allow_anonymous:
        raise ServiceError(
            "Nobody could enter: give a platform or turn on the anonymous pilot link."
        )
    settings = study.platform_settings or {}
    completion_url = settings.get("prolific_completion_url")
    if completion_url is not None and not str(completion_url).startswith("https://"):
        raise ServiceError(
            {
                "platform_settings": f"prolific_completion_url={completion_url!r} must be an https:// URL."
            }
        )
    _validate_items("questionnaire", study.questionnaire, kinds=None)
    _validate_items("demographics", study.demographics, kinds=_DEMOGRAPHIC_KINDS)
    rule = study.bonus_rule or {}
    if rule and not (0 <= float(rule.get("min_accuracy", -1)) <= 1):
        raise ServiceError(
            {
                "bonus_rule": 'bonus_rule needs "min_accuracy" between 0 and 1, e.g. {"min_accuracy": 0.8, "amount": "0.50"}.'
            }
        )


def _validate_items(name: str, items: Any, *, kinds: tuple[str, ...] | None) -> None:
    if not isinstance(items, list):
        raise ServiceError({name: f"{name} must be a list of items, got {type(items).__name__}."})
    keys = set()
    for number, item in enumerate(items, start=1):
        where = f"{name} item {number}"
        if not isinstance(item, dict) or not _KEY.match(str(item.get("key", ""))):
            raise ServiceError(
                {name: f"{where} needs a key of lower-case letters, digits and _ (e.g. 'age')."}
            )
        if item["key"] in keys:
            raise ServiceError({name: f"{where} repeats the key {item['key']!r}; keys are unique."})
        keys.add(item["key"])
        if not str(item.get("text", "")).strip():
            raise ServiceError({name: f"{where} ({item['key']}) needs the question's text."})
        if kinds is not None:
            if item.get("kind") not in kinds:
                raise ServiceError(
                    {
                        name: f"{where} ({item['key']}) has kind {item.get('kind')!r}; use one of {', '.join(kinds)}."
                    }
                )
            if item["kind"] == "choice" and not item.get("choices"):
                raise ServiceError({name: f"{where} ({item['key']}) is a choice with no choices."})


def _check_trial_counts(study: Study) -> None:
    check_trial_counts(
        stimulus_sets=[group.stimulus_set for group in study.groups.select_related("stimulus_set")],
        n_training=study.n_training,
        n_test=study.n_test,
    )


def check_trial_counts(
    *, stimulus_sets: Sequence[StimulusSet], n_training: int | None, n_test: int | None
) -> None:
    """Every set has the training and test trials the study shows (and at least one test trial)."""
    for stimulus_set in stimulus_sets:
        trials = stimulus_set.trials
        for phase, wanted in (("training", n_training), ("test", n_test)):
            have = trials.filter(phase=phase).count()
            if wanted is not None and wanted > have:
                raise ServiceError(
                    f"n_{phase}={wanted} but stimulus set {stimulus_set.pk} has {have} {phase} "
                    f"trials; lower n_{phase} or build a larger set."
                )
        if n_test == 0 or not trials.filter(phase="test").exists():
            raise ServiceError(f"Stimulus set {stimulus_set.pk} would show no test trials.")


def study_validate(*, study: Study) -> None:
    """The checks :func:`study_create` and :func:`study_update` run, for forms to run first."""
    _validate(study)
