"""Writes of the explainers app (HackSoft style: ``<entity>_<action>(*, ...)``).

Each service validates its inputs (raising ``ValidationError`` with a message that
names the input and the fix), is idempotent, and reports progress through an optional
``progress(fraction, step)`` callable. The admin runs them as background jobs
(:mod:`jobs`), the management commands in the foreground.

Names are resolved lazily (PEP 562): starting Django (the admin, ``migrate``, a Celery
worker) does not import torch until a service that needs it is called.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "classifier_create": "classifiers",
    "classifier_layer_names": "classifiers",
    "classifier_load": "classifiers",
    "dataset_create_imagefolder": "datasets",
    "dataset_create_synthetic": "datasets",
    "default_scenario_create": "default_scenario",
    "explainer_run_fit": "explainer_runs",
    "explainer_runs_fit": "explainer_runs",
    "fidelity_sweep_run": "fidelity",
    "manifest_export": "manifest",
    "stimulus_set_manifest": "manifest",
    "scenario_create": "scenarios",
    "scenario_validate": "scenarios",
    "stimulus_set_build": "stimulus_sets",
    "stimulus_set_freeze": "stimulus_sets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'explainers.services' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
