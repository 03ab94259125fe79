"""The analysis app's background job: building a study's report (CPU work, default route).

Registered from :meth:`analysis.apps.AnalysisConfig.ready`. The service is imported
inside the handler, so starting Django does not import pandas, statsmodels or gensim.
"""

from __future__ import annotations

from typing import Any

from jobs.progress import Progress

STUDY_REPORT = "study_report"


def study_report(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from studies.models import Study

    from .services import study_report_build

    stored = study_report_build(study=Study.objects.get(pk=params["study"]), progress=progress)
    return stored.summary()


def register_job_kinds() -> None:
    from jobs.registry import DEFAULT, register

    register(STUDY_REPORT, study_report, queue=DEFAULT)
