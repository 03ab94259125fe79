"""Frozen versions of a study's configuration.

The configuration a participant sees is a JSON document (:func:`study_config`) whose
sha256 names it. A launched study always has a current version; an edit replaces the
current version in place while nobody has started it, and adds a new version once
somebody has, so every participant's and response's version stays what they saw.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..models import Group, Study, StudyVersion

CONFIG_FIELDS = (
    "slug",
    "title",
    "description",
    "consent_text",
    "instructions",
    "n_training",
    "n_test",
    "exclusion_threshold",
    "bonus_rule",
    "questionnaire",
    "demographics",
    "code_completed",
    "code_screened_out",
    "code_failed_attention",
    "platforms",
    "allow_anonymous",
    "platform_settings",
    "exclusive_set",
    "time_limit_minutes",
)


def study_config(*, study: Study) -> dict[str, Any]:
    """The study's configuration as participants see it, with each group's trials in order."""
    config: dict[str, Any] = {field: getattr(study, field) for field in CONFIG_FIELDS}
    config["groups"] = [_group_config(group, study) for group in study.groups.order_by("pk")]
    return config


def config_sha256(config: dict[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def study_version_sync(*, study: Study) -> StudyVersion:
    """Make the study's current version match its configuration. The caller holds the study's row lock."""
    config = study_config(study=study)
    digest = config_sha256(config)
    current = study.current_version
    if current is not None and current.sha256 == digest:
        return current
    if current is not None and not current.participants.exists():
        current.config, current.sha256 = config, digest
        current.save(update_fields=["config", "sha256"])
        return current
    number = 1 + (current.number if current is not None else 0)
    version = StudyVersion.objects.create(study=study, number=number, config=config, sha256=digest)
    study.current_version = version
    study.save(update_fields=["current_version"])
    return version


def _group_config(group: Group, study: Study) -> dict[str, Any]:
    trials = list(group.stimulus_set.trials.order_by("position").values("pk", "phase"))
    training = [t["pk"] for t in trials if t["phase"] == "training"]
    test = [t["pk"] for t in trials if t["phase"] == "test"]
    manifest = group.stimulus_set.manifest or {}
    return {
        "id": group.pk,
        "label": group.label,
        "stimulus_set": group.stimulus_set_id,
        "stimulus_set_sha256": config_sha256(manifest) if manifest else "",
        "training": training[: study.n_training] if study.n_training is not None else training,
        "test": test[: study.n_test] if study.n_test is not None else test,
    }
