"""Concept reducers: factorise activations V (n_samples, n_features) as S·P.

``make_reducer("nmf" | "pca" | "kmeans", n_components, ...)`` builds one by name;
every reducer is a scikit-learn estimator (a transformer) over numpy arrays,
array-likes or torch tensors (see :class:`~explainers.ice.reducers.base.ConceptReducer`).
Each passes scikit-learn's ``check_estimator``, except for the checks listed in
``EXPECTED_FAILED_CHECKS`` (docs/core.md gives the scikit-learn version).
"""

from __future__ import annotations

from typing import Any

import torch

from explainers.ice.reducers.base import ConceptReducer
from explainers.ice.reducers.kmeans import KMeansReducer
from explainers.ice.reducers.nmf import NMFReducer
from explainers.ice.reducers.pca import PCAReducer

REDUCERS: dict[str, type[ConceptReducer]] = {
    "nmf": NMFReducer,
    "pca": PCAReducer,
    "kmeans": KMeansReducer,
}

# scikit-learn estimator checks each reducer is known to fail, and why:
# {name as make_reducer takes it: {check name: reason}}. The contract test hands
# these to parametrize_with_checks as expected_failed_checks, so a check that
# starts failing, or one listed here that starts passing, fails the test.
# All empty: every check of scikit-learn 1.8 passes.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {name: {} for name in REDUCERS}

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "REDUCERS",
    "ConceptReducer",
    "KMeansReducer",
    "NMFReducer",
    "PCAReducer",
    "make_reducer",
]


def make_reducer(
    name: str,
    n_components: int,
    *,
    random_state: int | None = None,
    device: str | torch.device = "auto",
    **params: Any,
) -> ConceptReducer:
    """Build the reducer called ``name`` ("nmf", "pca" or "kmeans"; any case).

    Parameters
    ----------
    name : str
    n_components : int
        Number of concepts c'.
    random_state : int or None
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
    **params
        Further parameters of that reducer's class (for example ``max_iter`` or
        ``input_name``).

    Returns
    -------
    ConceptReducer
        Unfitted.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in REDUCERS:
        raise ValueError(f"Unknown reducer {name!r}; valid names are {sorted(REDUCERS)}.")
    cls = REDUCERS[key]
    valid = set(cls._get_param_names())
    unknown = sorted(set(params) - valid)
    if unknown:
        raise TypeError(
            f"{cls.__name__} has no parameter(s) {unknown}; valid parameters are {sorted(valid)}."
        )
    return cls(n_components=n_components, random_state=random_state, device=device, **params)
