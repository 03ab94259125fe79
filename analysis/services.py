"""Building a study's report: frames from the database, the analysis core, files in storage.

:func:`study_report_build` is what the ``export_report`` command, the admin's *Build
report* job and the demo call. It only orchestrates: the selectors build the frames,
:mod:`analysis.stats` computes and writes the files into a temporary folder, and every
file is then stored through Django's storage API under
``reports/<study slug>/<run id>/`` (``summary.json`` last, so a listing that asks for it
never shows a half-stored report), and copied to a local folder when one is given.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from analysis.stats import ReportSettings, ScoringRules, build_report, write_report
from icelab.errors import ServiceError
from icelab.storage import storage_discard_partial, storage_save
from jobs.models import Job
from studies.models import Study

from .selectors import study_frames, study_progress

Progress = Callable[[float, str], None]
REPORTS_ROOT = "reports"
SUMMARY = "summary.json"
# Building the frames is a small share of the work; the core reports the rest.
_FRAMES_SHARE = 0.05
_STORE_SHARE = 0.05


@dataclass(frozen=True)
class StoredReport:
    """A report in storage: its folder, the storage name of each file, and what it says."""

    study: str
    run_id: str
    storage_dir: str
    files: dict[str, str]
    notes: list[str]
    live: bool
    generated_at: str
    local_dir: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what the command prints, the job returns and ``summary.json`` holds."""
        return asdict(self)


def study_report_build(
    *, study: Study, out_dir: str | Path | None = None, progress: Progress | None = None
) -> StoredReport:
    """Build ``study``'s report, store its files under ``reports/<slug>/<run id>/`` and, when
    ``out_dir`` is given, copy them there too.

    A study that is still live or paused gets a note saying the report shows the data so
    far. A study nobody has taken part in is refused with a ServiceError (there is nothing
    to analyse); every other problem with the data becomes a note of the report.
    """
    study.refresh_from_db(
        fields=["status"]
    )  # live or closed as of now, not as of the caller's copy
    counts = study_progress(study=study)
    if study.status == Study.Status.DRAFT or not counts["total"]:
        raise ServiceError(
            f"study {study.slug!r} has no participants yet, so there is nothing to report; "
            "launch it and build the report once people have taken part "
            "(or try it with simulate_participants)."
        )
    report_progress = _scaled(progress, _FRAMES_SHARE, 1 - _STORE_SHARE)
    _report(progress, 0.0, "reading the study's data")
    frames = study_frames(study=study)
    report = build_report(
        responses=frames.responses,
        participants=frames.participants,
        descriptions=frames.descriptions,
        questionnaire=frames.questionnaire,
        concepts=frames.concepts,
        settings=report_settings(study=study),
        progress=report_progress,
    )
    live = study.status in (Study.Status.LIVE, Study.Status.PAUSED)
    if live:
        report.notes.insert(0, _data_so_far(study, counts))
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    storage_dir = f"{REPORTS_ROOT}/{study.slug}/{run_id}"
    with tempfile.TemporaryDirectory(prefix="icelab-report-") as temporary:
        paths = write_report(report, temporary, progress=report_progress)
        _report(progress, 1 - _STORE_SHARE, "storing the files")
        stored = StoredReport(
            study=study.slug,
            run_id=run_id,
            storage_dir=storage_dir,
            files={name: f"{storage_dir}/{name}" for name in sorted(paths)},
            notes=list(report.notes),
            live=live,
            generated_at=report.generated_at,
            local_dir=str(Path(out_dir).resolve()) if out_dir is not None else None,
            counts=counts,
        )
        _store(paths, stored)
        if out_dir is not None:
            _copy_local(paths, Path(out_dir), stored)
    _report(progress, 1.0, "done")
    return stored


def report_settings(*, study: Study) -> ReportSettings:
    """The analysis choices for ``study``: its own exclusion threshold and bonus rule, the
    configured word vectors, and the pseudonym key (never written anywhere)."""
    bonus = (study.bonus_rule or {}).get("min_accuracy")
    rules = ScoringRules(
        exclusion_threshold=float(study.exclusion_threshold),
        bonus_threshold=float(bonus) if bonus is not None else ScoringRules().bonus_threshold,
    )
    key = settings.ICELAB_PSEUDONYM_KEY
    if len(str(key).encode()) < 16:
        raise ServiceError(
            "ICELAB_PSEUDONYM_KEY is shorter than 16 bytes, too short to hide participant IDs; "
            "set a long random secret (python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    return ReportSettings(
        title=f"Report: {study.title}",
        study=study.slug,
        rules=rules,
        word_vectors=settings.ICELAB_WORD_VECTORS,
        pseudonym_key=key,
    )


def _data_so_far(study: Study, counts: dict[str, int]) -> str:
    return (
        f"This study is still {study.get_status_display().lower()}: the report shows the data "
        f"so far: {counts['total']} participant(s), {counts['completed']} completed, "
        f"{counts['in_progress']} in progress (only finished sessions are analysed)."
    )


def _store(paths: dict[str, Path], stored: StoredReport) -> None:
    """Every file through the storage API, then summary.json, which marks the report complete.

    A file that cannot be written (full disk, unwritable folder) removes the ones stored
    before it, so no report is left half there, and raises the storage's clear error.
    """
    saved_names: list[str] = []
    try:
        for name, path in sorted(paths.items()):
            saved = storage_save(stored.files[name], path.read_bytes())
            saved_names.append(saved)
            if saved != stored.files[name]:  # the run id is random: a clash is a bug, not a race
                raise ServiceError(
                    f"{stored.files[name]} already existed in storage; not replaced."
                )
        summary = json.dumps(stored.summary(), indent=2).encode()
        storage_save(f"{stored.storage_dir}/{SUMMARY}", summary)
    except BaseException:
        for name in saved_names:
            storage_discard_partial(name)
        raise


def _copy_local(paths: dict[str, Path], out: Path, stored: StoredReport) -> None:
    """Copy each file into ``out`` under a temporary name, then rename it into place.

    summary.json comes last: a folder without it holds an incomplete copy. A copy that
    fails (full disk, unwritable folder) removes its temporary file and says what to do.
    """
    temporary = out / f".{SUMMARY}.{os.getpid()}.tmp"
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, source in sorted(paths.items()):
            temporary = out / f".{name}.{os.getpid()}.tmp"
            shutil.copyfile(source, temporary)
            os.replace(temporary, out / name)
        temporary = out / f".{SUMMARY}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(stored.summary(), indent=2), encoding="utf-8")
        os.replace(temporary, out / SUMMARY)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ServiceError(
            f"could not copy the report into {out}: {error.strerror or error}; the report is "
            f"stored in ICE Lab ({stored.storage_dir}). To fix: free disk space there or choose "
            "a writable folder, and run it again."
        ) from error


def _scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    """``progress`` with the core's 0..1 mapped onto start..end (the core ends with "done")."""
    if progress is None:
        return None

    def report(fraction: float, step: str) -> None:
        if step != "done":
            progress(start + (end - start) * fraction, step)

    return report


def _report(progress: Progress | None, fraction: float, step: str) -> None:
    if progress is not None:
        progress(fraction, step)


def study_report_submit(*, study: Study) -> Job:
    """Queue the ``study_report`` job for ``study`` (the same request while one is queued or
    running returns that job). Refused at once for a study nobody has taken part in."""
    from jobs.services import job_submit

    from .job_kinds import STUDY_REPORT

    if not study_progress(study=study)["total"]:
        raise ServiceError(
            f"study {study.slug!r} has no participants yet, so there is nothing to report."
        )
    return job_submit(kind=STUDY_REPORT, params={"study": study.pk})
