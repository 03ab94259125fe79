"""ICE: invertible concept-based explanations of CNN classifiers (framework-free core).

Zhang, Madumal, Miller, Ehinger, Rubinstein, "Invertible Concept-based Explanations
for CNN Models with Non-negative Concept Activation Vectors", AAAI 2021.

This package never imports Django, so it is usable from a notebook with no settings.
Names are resolved lazily (PEP 562) so ``import explainers.ice`` stays cheap and a
module's import error surfaces under the name that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # devices
    "resolve_device": "devices",
    # reducers
    "make_reducer": "reducers",
    "REDUCERS": "reducers",
    "NMFReducer": "reducers",
    "PCAReducer": "reducers",
    "KMeansReducer": "reducers",
    "fit_reducers": "reducers.batched",
    # model side
    "FeatureExtractor": "features",
    "LinearHead": "features",
    "ConceptExplainer": "explainer",
    "LocalExplanation": "explainer",
    "load_classifier": "classifiers",
    # fidelity
    "fidelity_sweep": "fidelity",
    "FidelitySweep": "fidelity",
    "SweepTestSet": "sweep_engine",
    "ClassResult": "sweep_engine",
    "sweep_class": "sweep_engine",
    "run_sweep": "sweep_engine",
    # visual explanations
    "top_prototypes": "prototypes",
    "concept_heatmap": "heatmaps",
    "highlight_concept": "heatmaps",
    "render_prototype_row": "figures",
    "render_local_explanation": "figures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'explainers.ice' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
