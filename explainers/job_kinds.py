"""The explainers app's background jobs: fit, sweep and build, each a call to one service.

Registered from :meth:`explainers.apps.ExplainersConfig.ready` on the ``gpu`` queue
(torch work). Services are imported inside the handlers, so starting Django (a web
process, ``migrate``) does not import torch.
"""

from __future__ import annotations

from typing import Any

from jobs.progress import Progress

from .models import FidelitySweep, Scenario, StimulusSet


def fit_explainers(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services import explainer_runs_fit

    runs = explainer_runs_fit(
        scenario=Scenario.objects.get(pk=params["scenario"]),
        reducer=params["reducer"],
        n_components=int(params.get("n_components", 10)),
        classes=params.get("classes"),
        seed=int(params.get("seed", 0)),
        progress=progress,
    )
    return {"runs": [run.pk for run in runs]}


def fidelity_sweep(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services import fidelity_sweep_run
    from .services.fidelity import DEFAULT_N_COMPONENTS

    sweep: FidelitySweep = fidelity_sweep_run(
        scenario=Scenario.objects.get(pk=params["scenario"]),
        reducers=tuple(params.get("reducers", ("nmf", "pca", "kmeans"))),
        n_components=tuple(params.get("n_components", DEFAULT_N_COMPONENTS)),
        classes=params.get("classes"),
        seed=int(params.get("seed", 0)),
        progress=progress,
    )
    return {"fidelity_sweep": sweep.pk}


_STIMULUS_OPTIONS = ("seed", "n_classes", "n_training", "n_components", "explainer_seed")


def build_stimulus_set(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from .services import stimulus_set_build

    options = {k: int(params[k]) for k in _STIMULUS_OPTIONS if k in params}
    stimulus_set: StimulusSet = stimulus_set_build(
        scenario=Scenario.objects.get(pk=params["scenario"]),
        reducer=params["reducer"],
        progress=progress,
        **options,
    )
    return {"stimulus_set": stimulus_set.pk, "trials": stimulus_set.trials.count()}


def register_job_kinds() -> None:
    from jobs.registry import GPU, register

    register("fit_explainers", fit_explainers, queue=GPU)
    register("fidelity_sweep", fidelity_sweep, queue=GPU)
    register("build_stimulus_set", build_stimulus_set, queue=GPU)
