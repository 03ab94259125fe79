"""The explainers app's background jobs: fit, sweep and build, each a call to one service.

``fit_explainers`` fans out (:mod:`jobs.fanout`): one ``fit_explainer`` child job per
(reducer, class), so the fit of many classes is shared by every worker on the queue.
``fidelity_sweep`` fans out one ``fidelity_sweep_block`` per block of classes, all
writing into the sweep's run folder, and combines their results into one table.

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


def fidelity_sweep(params: dict[str, Any], progress: Progress) -> FanOut:
    """Prepare the sweep's run folder, then one ``fidelity_sweep_block`` unit per block of classes.

    ``params``: scenario, reducers, n_components, classes (default: all), seed, device,
    classes_per_unit (default: blocks so that there are at most 200 units). Bad input
    fails the job before any unit exists. Run again to combine, it finds the test set
    saved and lists the same units.
    """
    from .services.fidelity import (
        fidelity_sweep_blocks,
        fidelity_sweep_plan_from_params,
        fidelity_sweep_prepare,
    )

    plan = fidelity_sweep_plan_from_params(params)
    per_unit = params.get("classes_per_unit")
    blocks = fidelity_sweep_blocks(
        plan=plan, classes_per_unit=None if per_unit is None else int(per_unit)
    )
    device = params.get("device", "auto")
    fidelity_sweep_prepare(plan=plan, device=device, progress=progress)
    # A unit names the run folder, whose run.json holds the rest of the plan.
    units = [{"run": plan.key, "block": block, "device": device} for block in blocks]
    return fan_out(units, child_kind="fidelity_sweep_block")


def fidelity_sweep_block(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """One unit of ``fidelity_sweep``: a block of classes into the run folder.

    Redelivered after its worker died, it skips the classes whose result file is there.
    """
    from .services.fidelity import fidelity_sweep_plan_of_run, fidelity_sweep_run_block

    plan = fidelity_sweep_plan_of_run(params["run"])
    done = fidelity_sweep_run_block(
        plan=plan,
        classes=list(params["block"]),
        device=params.get("device", "auto"),
        progress=progress,
    )
    return {"classes": done}


def fidelity_sweep_combine(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Every block is done: the table, plot and sidecar, stored once per run."""
    from .services.fidelity import fidelity_sweep_finish, fidelity_sweep_plan_from_params

    sweep: FidelitySweep = fidelity_sweep_finish(plan=fidelity_sweep_plan_from_params(params))
    return {"fidelity_sweep": sweep.pk, "table": sweep.table}


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
    register("fidelity_sweep", fidelity_sweep, queue=GPU, combine=fidelity_sweep_combine)
    register("fidelity_sweep_block", fidelity_sweep_block, queue=GPU)
    register("build_stimulus_set", build_stimulus_set, queue=GPU)
