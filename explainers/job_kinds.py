"""The explainers app's background jobs: fit, sweep and build, each a call to one service.

``fit_explainers`` fans out (:mod:`jobs.fanout`): one ``fit_explainer`` child job per
(reducer, class), so the fit of many classes is shared by every worker on the queue.

Registered from :meth:`explainers.apps.ExplainersConfig.ready` on the ``gpu`` queue
(torch work). Services are imported inside the handlers, so starting Django (a web
process, ``migrate``) does not import torch.
"""

from __future__ import annotations

from typing import Any

from jobs.fanout import FanOut, fan_out
from jobs.progress import Progress

from .models import FidelitySweep, Scenario, StimulusSet


def fit_explainers(params: dict[str, Any], progress: Progress) -> FanOut:
    """One ``fit_explainer`` unit per (reducer, class): any number of workers share the fit.

    ``params``: scenario, reducer (or reducers, a list), classes (default: all),
    n_components, seed. Checked here, so bad input fails the job before any unit exists.
    """
    from .services.explainer_runs import check_classes, check_reducer

    scenario = Scenario.objects.get(pk=params["scenario"])
    reducers = [check_reducer(name) for name in params.get("reducers") or [params["reducer"]]]
    classes = check_classes(scenario=scenario, classes=params.get("classes"))
    common = {
        "n_components": int(params.get("n_components", 10)),
        "seed": int(params.get("seed", 0)),
    }
    units = [
        {"scenario": scenario.pk, "reducer": reducer, "class_name": class_name, **common}
        for reducer in dict.fromkeys(reducers)
        for class_name in classes
    ]
    return fan_out(units, child_kind="fit_explainer")


def fit_explainer(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """One unit of ``fit_explainers``: the explainer of one class under one reducer.

    Run again after its worker died, it reuses the run row (unique per scenario, class,
    reducer, c', seed) and fits it again unless it had already succeeded.
    """
    from .services import explainer_runs_fit

    (run,) = explainer_runs_fit(
        scenario=Scenario.objects.get(pk=params["scenario"]),
        reducer=params["reducer"],
        n_components=int(params["n_components"]),
        classes=[params["class_name"]],
        seed=int(params["seed"]),
        progress=progress,
    )
    return {"run": run.pk}


def fit_explainers_combine(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"runs": [result["run"] for result in results]}


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

    register("fit_explainers", fit_explainers, queue=GPU, combine=fit_explainers_combine)
    register("fit_explainer", fit_explainer, queue=GPU)
    register("fidelity_sweep", fidelity_sweep, queue=GPU)
    register("build_stimulus_set", build_stimulus_set, queue=GPU)
