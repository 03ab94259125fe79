"""Fitted reducers on disk, so concept maps can be recomputed without refitting.

A reducer is an scikit-learn-shaped estimator: its constructor parameters plus its
learned attributes (names ending in ``_``) are its whole state. They are written to an
``.npz`` (no pickle, so loading a file never runs code) and restored onto a fresh
reducer from :func:`explainers.ice.make_reducer`.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .files import atomic_file
from .images import file_sha256

_PARAMS_KEY = "__params__"
_NAME_KEY = "__reducer__"
_SCALAR_PREFIX = "scalar:"


def reducer_save(reducer: Any, name: str, path: str | Path) -> str:
    """Write the fitted ``reducer`` (registry ``name``: nmf, pca, kmeans) to ``path``; return its sha256."""
    path = Path(path)
    params = {key: _jsonable(value) for key, value in reducer.get_params().items()}
    arrays: dict[str, np.ndarray] = {
        _NAME_KEY: np.array(name),
        _PARAMS_KEY: np.array(json.dumps(params, sort_keys=True)),
    }
    for key, value in vars(reducer).items():
        if not key.endswith("_") or key.startswith("_") or key == "device_":
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, numbers.Number):
            arrays[_SCALAR_PREFIX + key] = np.array(value)
    with atomic_file(path, "wb") as stream:
        np.savez(stream, **arrays)
    return file_sha256(path)


def reducer_load(path: str | Path, *, device: str | torch.device = "auto") -> Any:
    """A fitted reducer restored from :func:`reducer_save`'s file, computing on ``device``."""
    from .devices import resolve_device
    from .reducers import make_reducer

    with np.load(path, allow_pickle=False) as stored:
        name = str(stored[_NAME_KEY])
        params = json.loads(str(stored[_PARAMS_KEY]))
        params.pop("device", None)
        n_components = params.pop("n_components")
        random_state = params.pop("random_state", None)
        reducer = make_reducer(
            name, n_components, random_state=random_state, device=device, **params
        )
        for key in stored.files:
            if key in (_NAME_KEY, _PARAMS_KEY):
                continue
            if key.startswith(_SCALAR_PREFIX):
                setattr(reducer, key.removeprefix(_SCALAR_PREFIX), stored[key].item())
            else:
                setattr(reducer, key, stored[key])
    reducer.device_ = resolve_device(device)
    return reducer


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
