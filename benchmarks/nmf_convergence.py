"""How far the NMF fit's stopping rule lands from a converged fit, on real activations; JSON.

    python benchmarks/nmf_convergence.py FEATURES [FEATURES ...] [--components 10]
                                         [--tols 1e-4,1e-5] [--trace 400] [--out FILE]

Each FEATURES is a feature-bank entry (a directory holding ``features.npy``) or an
``.npy`` file of activations (n, h, w, c), for example the demo's training classes
under ``$ICELAB_HOME/features/<classifier>/layer4/train/``. For each class and c' it
fits

- scikit-learn's NMF (nndsvda, coordinate descent) run to convergence
  (``--sklearn-tols``, default ``tol=1e-6``, up to 5,000 iterations; on the reducer
  tests' data 1e-6, 1e-7 and 1e-8 give the same error to float32 precision; with
  several, the lowest error is the reference);
- our NMF with its defaults, and with each ``--tols`` value;
- our HALS with ``tol=0`` for ``--trace`` iterations, recording the error after
  every iteration, so any stopping rule can be judged on the same trajectory, and
  the iteration (and time) at which it first comes within 0.1% of the reference.

Errors are relative, ``||V - S·P||_F / ||V||_F``, summed in float64.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reducers import machine_info, relative_error, squared_sum  # noqa: E402
from explainers.ice.devices import resolve_device  # noqa: E402
from explainers.ice.reducers import NMFReducer, solvers  # noqa: E402

# The bar: a default fit within 0.1% of scikit-learn's converged error.
WITHIN = 1e-3


def load_rows(path: Path) -> np.ndarray:
    """Activations (n, h, w, c) from an entry directory or an .npy file, as (n·h·w, c) float32."""
    file = path / "features.npy" if path.is_dir() else path
    features = np.load(file)
    return np.ascontiguousarray(features.reshape(-1, features.shape[-1]), dtype=np.float32)


def sklearn_converged(V: np.ndarray, k: int, tol: float) -> dict[str, Any]:
    model = NMF(k, init="nndsvda", solver="cd", tol=tol, max_iter=5000, random_state=0)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(V)
    return {
        "tol": tol,
        "time_s": time.perf_counter() - started,
        "n_iter": int(model.n_iter_),
        "rel_error": relative_error(V, W, model.components_),
    }


def ours(V: np.ndarray, k: int, **params: Any) -> dict[str, Any]:
    reducer = NMFReducer(k, random_state=0, device="cpu", **params)
    started = time.perf_counter()
    S = reducer.fit_transform(V)
    return {
        "params": params or "defaults",
        "time_s": time.perf_counter() - started,
        "n_iter": int(reducer.n_iter_),
        "converged": bool(reducer.converged_),
        "rel_error": relative_error(V, S, reducer.components_),
    }


def trace(V: np.ndarray, k: int, iterations: int, reference: float) -> dict[str, Any]:
    """Errors after each HALS iteration from the reducer's start, and when it nears ``reference``."""
    norm = float(np.sqrt(squared_sum(V)))
    St, P = solvers.nndsvd(V, k, np.random.default_rng(0), fill_mean=True)
    errors: list[float] = []
    started, reached = time.perf_counter(), None

    def record(iteration: int, error: float) -> bool:
        nonlocal reached
        errors.append(error / norm)
        if reached is None and errors[-1] <= reference * (1 + WITHIN):
            reached = {"n_iter": iteration, "time_s": time.perf_counter() - started}
        return False

    solvers.nmf_hals(V, St, P, max_iter=iterations, tol=0.0, callback=record)
    return {"within_0.1%_of_sklearn": reached, "rel_errors": errors}


def run(
    paths: list[Path],
    components: list[int],
    tols: list[float],
    iterations: int,
    sklearn_tols: list[float],
) -> dict:
    report: dict[str, Any] = {
        "benchmark": "nmf_convergence",
        "machine": machine_info(resolve_device("cpu")),
        "classes": {},
    }
    for path in paths:
        V = load_rows(path)
        entry = report["classes"][path.name] = {"shape": list(V.shape), "results": {}}
        for k in components:
            print(f"{path.name}, c'={k}", file=sys.stderr, flush=True)
            references = [sklearn_converged(V, k, tol) for tol in sklearn_tols]
            reference = min(references, key=lambda fit: fit["rel_error"])
            fits = [ours(V, k)] + [ours(V, k, tol=tol) for tol in tols]
            for fit in fits:
                fit["error_over_sklearn"] = fit["rel_error"] / reference["rel_error"] - 1
            result = {"sklearn_converged": references, "ours": fits}
            if iterations:
                result["trace"] = trace(V, k, iterations, reference["rel_error"])
            entry["results"][str(k)] = result
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("features", nargs="+", type=Path)
    parser.add_argument("--components", default="10", help="comma-separated c' values")
    parser.add_argument("--tols", default="1e-4", help="comma-separated tol values to try too")
    parser.add_argument("--trace", type=int, default=0, help="HALS iterations to trace (0: none)")
    parser.add_argument("--sklearn-tols", default="1e-6", help="scikit-learn's tol values")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    report = run(
        args.features,
        [int(k) for k in args.components.split(",")],
        [float(t) for t in args.tols.split(",") if t],
        args.trace,
        [float(t) for t in args.sklearn_tols.split(",")],
    )
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
