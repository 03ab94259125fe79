"""One reducer fitted for many values of c' at once, sharing the passes over the data.

A fidelity sweep (Zhang et al. 2021, Figure 3) fits every reducer for c' = 5, 10,
…, 50 on each class's activations V (n_samples, n_features). Fitted one at a time,
each fit reads V on its own; at ImageNet scale (n ≈ 63,700 × 2,048 per class)
reading V dominates. :func:`fit_reducers` fits all the c' values of one reducer
while V is resident and returns ordinary fitted reducers, the same objects
``make_reducer(name, k).fit(V)`` gives:

- **PCA**: principal axes nest, so one eigendecomposition of the covariance
  serves every c' (c' = k takes its first k eigenvectors). Always the exact
  covariance solver (the one CUDA uses); each reducer's ``svd_solver`` says so.
- **NMF**: each c' runs its own HALS (same NNDSVD start, same stopping rule) in
  lockstep with the others. The two products with V of an iteration, ``P·Vᵀ``
  and ``Sᵀ·V``, are computed for every c' still running in one product each, by
  stacking their factors (Σc' = 275 rows for 5..50); the HALS passes then run
  on each c''s slice. A c' that has met its stopping rule leaves the stack.
  NNDSVD's randomised SVDs share their products with V the same way.
- **k-means**: each c' runs its own k-means++ seeding and Lloyd iterations; the
  distance products ``V·Cᵀ`` and the cluster sums of all running c' come from
  one product each, with the centroids stacked.

Results equal the one-at-a-time fits up to float rounding: a slice of a stacked
product is the same sum as the product on its own, but BLAS may order its terms
differently (measured: ~1e-7 relative in float32). Iterative fits can carry
that difference along; tests/explainers/ice/test_batched_reducers.py states the
tolerances.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

import explainers.ice.reducers as package
from explainers.ice.devices import resolve_device
from explainers.ice.reducers import _arrays as xp
from explainers.ice.reducers import solvers
from explainers.ice.reducers._arrays import Array, blas_threads_for
from explainers.ice.reducers.base import ConceptReducer, Data, _check_seed
from explainers.ice.reducers.input_checks import numpy_dtype
from explainers.ice.reducers.kmeans import KMeansReducer, _mean_feature_variance
from explainers.ice.reducers.nmf import NMFReducer
from explainers.ice.reducers.pca import PCAReducer, _flip_signs, _top_eigenvectors


def fit_reducers(
    name: str,
    X: Data,
    n_components: Sequence[int],
    *,
    random_state: int | None = None,
    device: str | torch.device = "auto",
    **params: Any,
) -> dict[int, ConceptReducer]:
    """Fit the reducer ``name`` on ``X`` once for every value in ``n_components``.

    Parameters
    ----------
    name : "nmf", "pca" or "kmeans" (any case).
    X : data of shape (n_samples, n_features), as ``fit`` takes it.
    n_components : the c' values (positive ints; repeats are fitted once).
    random_state, device, **params : as :func:`~explainers.ice.reducers.make_reducer`
        (every reducer gets the same; ``input_name`` names X in error messages).

    Returns
    -------
    dict {c': fitted reducer}, in increasing c'. Each has the attributes its
    ``fit`` sets (``components_``, ``n_iter_``, ``converged_``,
    ``reconstruction_err_``, …).
    """
    values = _checked_components(n_components)
    # Through the package, so a caller (or a test) that swaps make_reducer is obeyed.
    reducers = {
        k: package.make_reducer(name, k, random_state=random_state, device=device, **params)
        for k in values
    }
    largest = reducers[values[-1]]
    largest._validate_params()
    if largest.cpu_backend not in xp.CPU_BACKENDS:
        raise ValueError(f"cpu_backend={largest.cpu_backend!r} is not one of {xp.CPU_BACKENDS}.")
    _check_seed(random_state)
    device_ = resolve_device(device)
    for reducer in reducers.values():
        reducer.device_ = device_
    tensor = largest._validated_tensor(X, expected_features=None)
    for reducer in reducers.values():
        reducer._check_n_components(*tensor.shape)
    fit = _FITTERS[type(largest)]
    with blas_threads_for(tensor.numel()):
        fit(list(reducers.values()), tensor)
    for reducer in reducers.values():
        reducer.n_features_in_ = int(tensor.shape[1])
    return reducers


def _checked_components(n_components: Sequence[int]) -> list[int]:
    values = list(n_components) if not isinstance(n_components, str) else [n_components]
    if not values or any(
        isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 for k in values
    ):
        raise ValueError(f"n_components={values!r}; give positive ints, e.g. range(5, 55, 5).")
    return sorted({int(k) for k in values})


def _stack(arrays: list[Array]) -> Array:
    """Rows of several arrays, one below the other (numpy or torch alike)."""
    if isinstance(arrays[0], np.ndarray):
        return np.concatenate(arrays)
    return torch.cat(arrays)


def _stack_columns(arrays: list[Array]) -> Array:
    """Columns of several arrays, side by side."""
    if isinstance(arrays[0], np.ndarray):
        return np.concatenate(arrays, axis=1)
    return torch.cat(arrays, dim=1)


def _offsets(sizes: list[int]) -> list[slice]:
    """Row slices of blocks of the given sizes stacked in order."""
    starts = np.cumsum([0, *sizes])
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)]


# ---------------------------------------------------------------------------- PCA
def _fit_pca(reducers: list[PCAReducer], X: torch.Tensor) -> None:
    """One covariance eigendecomposition; c' = k keeps the first k axes."""
    largest = reducers[-1]
    if largest.svd_solver not in ("auto", "covariance"):
        raise ValueError(
            f"svd_solver={largest.svd_solver!r}: fitting many c' at once takes the exact "
            "covariance solver (one eigendecomposition serves every c'); pass 'auto' or "
            "'covariance', or fit each c' on its own with make_reducer(...).fit."
        )
    data = largest._working(X)
    n = data.shape[0]
    mean = largest._column_means(data)
    centred_ss = largest._centred_ss(data, mean)
    scatter = largest._scatter_matrix(data, mean)
    components, singular_values = _top_eigenvectors(scatter, largest.n_components)
    for reducer in reducers:
        k = reducer.n_components
        # What ran is the exact covariance solver, whatever "auto" would have picked.
        reducer.svd_solver = "covariance"
        reducer.n_iter_, reducer.converged_ = 0, True
        reducer._store(
            mean,
            _flip_signs(components[:k]),
            singular_values[:k],
            centred_ss,
            n,
            numpy_dtype(X.dtype),
        )


# ---------------------------------------------------------------------------- NMF
def _randomized_svds(
    X: Array,
    ranks: list[int],
    rngs: list[np.random.Generator],
    n_iters: list[int],
    n_oversamples: int = 10,
) -> list[tuple[Array, np.ndarray, np.ndarray]]:
    """:func:`solvers.randomized_svd` (no centring) for several ranks, products with X shared.

    Each sketch is the one ``randomized_svd(X, rank, rng, n_iter=...)`` would
    draw and orthonormalise; only the products with X (and Xᵀ) are taken for all
    sketches still iterating at once.
    """
    n, m = X.shape
    sketches = [
        xp.like(rng.standard_normal((m, min(rank + n_oversamples, n, m))), X)
        for rank, rng in zip(ranks, rngs, strict=True)
    ]

    def times_each(matrix: Array, blocks: list[Array]) -> list[Array]:
        # matrix @ [B_1 | B_2 | …], split back into matrix @ B_i
        product = matrix @ _stack_columns(blocks)
        return [product[:, s] for s in _offsets([block.shape[1] for block in blocks])]

    Q = [solvers.orthonormal_columns(Z) for Z in times_each(X, sketches)]
    for iteration in range(max(n_iters)):
        active = [i for i, count in enumerate(n_iters) if iteration < count]
        inner = [solvers.orthonormal_columns(Z) for Z in times_each(X.T, [Q[i] for i in active])]
        for i, Z in zip(active, times_each(X, inner), strict=True):
            Q[i] = solvers.orthonormal_columns(Z)
    results = []
    for rank, Qi, B in zip(ranks, Q, times_each(X.T, Q), strict=True):
        U_small, s, Vt = np.linalg.svd(xp.host64(B).T, full_matrices=False)
        r = min(rank, s.shape[0])
        results.append((Qi @ xp.like(U_small[:, :r], X), s[:r], Vt[:r]))
    return results


@dataclass
class _HalsRun:
    """One c''s HALS fit inside the batched loop: its factors, error history and outcome."""

    reducer: NMFReducer
    St: Array  # (k, n) scores, transposed; a view into the stack while running
    P: Array  # (k, m) components, likewise
    recent: deque = field(default_factory=lambda: deque(maxlen=solvers.TOL_WINDOW + 1))
    n_iter: int = 0
    error: float = math.nan
    converged: bool = False
    done: bool = False
    score_passes: Any = None
    component_passes: Any = None


def _fit_nmf(reducers: list[NMFReducer], X: torch.Tensor) -> None:
    """HALS for every c' in lockstep; ``solvers.nmf_hals``'s arithmetic and stopping rule."""
    data = reducers[0]._working(X)
    rngs = [reducer._seeded_generator() for reducer in reducers]
    starts = _nmf_starts(reducers, data, rngs)
    runs = [_HalsRun(reducer, St, P) for reducer, (St, P) in zip(reducers, starts, strict=True)]
    data_norm_sq = solvers.squared_norm(data)
    max_iter = max(reducer.max_iter for reducer in reducers)
    running: list[_HalsRun] = []
    St_all = P_all = None
    for iteration in range(1, max_iter + 1):
        active = [run for run in runs if not run.done]
        if not active:
            break
        if active != running:
            # Restack only the c' still running (the copy is far cheaper than a product).
            running = active
            St_all, P_all = _stack([r.St for r in running]), _stack([r.P for r in running])
            for run, rows in zip(running, _offsets([r.P.shape[0] for r in running]), strict=True):
                run.St, run.P = St_all[rows], P_all[rows]
                run.score_passes = solvers._passes_over(run.St)
                run.component_passes = solvers._passes_over(run.P)
        rows_of = _offsets([r.P.shape[0] for r in running])
        products = P_all @ data.T  # every running c''s P·Xᵀ in one product
        for run, rows in zip(running, rows_of, strict=True):
            run.score_passes(products[rows], run.P @ run.P.T, solvers._SCORE_PASSES)
        products = xp.thin_times(St_all, data)  # and every Sᵀ·X
        for run, rows in zip(running, rows_of, strict=True):
            A, B = products[rows], run.St @ run.St.T
            run.component_passes(A, B, solvers._COMPONENT_PASSES)
            _record_iteration(run, iteration, data, data_norm_sq, A, B)


def _nmf_starts(
    reducers: list[NMFReducer], data: Array, rngs: list[np.random.Generator]
) -> list[tuple[Array, Array]]:
    init = reducers[0].init
    if init == "random":
        return [
            solvers.random_nmf_init(data, r.n_components, rng)
            for r, rng in zip(reducers, rngs, strict=True)
        ]
    ranks = [r.n_components for r in reducers]
    svds = _randomized_svds(
        data, ranks, rngs, [solvers.nndsvd_power_iterations(data.shape, k) for k in ranks]
    )
    return [
        solvers.nndsvd_from_svd(data, k, U, s, Vt, fill_mean=init == "nndsvda")
        for k, (U, s, Vt) in zip(ranks, svds, strict=True)
    ]


def _record_iteration(
    run: _HalsRun, iteration: int, data: Array, data_norm_sq: float, A: Array, B: Array
) -> None:
    """The error after an iteration and ``nmf_hals``'s stopping test; finish the run if met."""
    reducer = run.reducer
    error = solvers._error_from_products(data_norm_sq, A, B, run.P)
    if error**2 < solvers._CHEAP_ERROR_MIN_SHARE * data_norm_sq:
        error = math.sqrt(solvers.residual_squared_norm(data, run.St, run.P))
    run.recent.append(error)
    run.n_iter, run.error = iteration, error
    tol = reducer.tol
    if (
        tol > 0
        and len(run.recent) > solvers.TOL_WINDOW
        and run.recent[0] - error <= solvers.TOL_WINDOW * tol * run.recent[0]
    ):
        run.converged = True
    if run.converged or iteration >= reducer.max_iter:
        _finish_nmf(run)


def _finish_nmf(run: _HalsRun) -> None:
    reducer = run.reducer
    run.done = True
    reducer.n_iter_, reducer.reconstruction_err_ = run.n_iter, run.error
    reducer.converged_ = run.converged
    reducer.components_ = xp.as_tensor(xp.copy(run.P)).cpu().numpy()
    run.St = run.P = run.score_passes = run.component_passes = None  # free the stack
    if not run.converged and reducer.tol > 0:
        warnings.warn(
            f"NMF (c'={reducer.n_components}) stopped at max_iter={reducer.max_iter} before its "
            f"improvement fell below tol={reducer.tol:g} (error {reducer.reconstruction_err_:.6g}); "
            "raise max_iter to let it converge.",
            ConvergenceWarning,
            stacklevel=5,
        )


# ------------------------------------------------------------------------ k-means
@dataclass
class _LloydRun:
    """One c''s Lloyd iterations inside the batched loop."""

    reducer: KMeansReducer
    centers: Array
    previous_labels: np.ndarray | None = None
    result: tuple | None = None  # (centres, labels, inertia, n_iter, converged) once done


def _fit_kmeans(reducers: list[KMeansReducer], X: torch.Tensor) -> None:
    """k-means++ seeds per c', then Lloyd's iterations of all c' with shared products."""
    first = reducers[0]
    data = first._working(X)
    squared_norms = xp.row_squared_norms(data)
    shift_tol = first.tol * _mean_feature_variance(data, first.batch_size)
    rngs = [reducer._seeded_generator() for reducer in reducers]
    best: list[tuple | None] = [None] * len(reducers)
    for _ in range(max(reducer.n_init for reducer in reducers)):
        runs = [
            _LloydRun(reducer, reducer._seed_centers(data, squared_norms, rng))
            for reducer, rng in zip(reducers, rngs, strict=True)
        ]
        _lloyd(runs, data, squared_norms, shift_tol)
        for i, run in enumerate(runs):
            if best[i] is None or run.result[2] < best[i][2]:
                best[i] = run.result
    for reducer, (centers, labels, inertia, n_iter, converged) in zip(reducers, best, strict=True):
        reducer.components_ = xp.as_tensor(centers).cpu().numpy()
        reducer.labels_, reducer.inertia_, reducer.n_iter_ = labels, inertia, n_iter
        reducer.converged_ = converged
        reducer.reconstruction_err_ = math.sqrt(inertia)


def _lloyd(runs: list[_LloydRun], data: Array, squared_norms: Array, shift_tol: float) -> None:
    """``KMeansReducer._lloyd`` for every run in lockstep (same tests, same results)."""
    max_iter = max(run.reducer.max_iter for run in runs)
    for iteration in range(1, max_iter + 1):
        active = [run for run in runs if run.result is None]
        if not active:
            return
        assigned = _assign(active, [run.centers for run in active], data, squared_norms, True)
        settled = []
        for run, (labels, distances, sums) in zip(active, assigned, strict=True):
            if run.previous_labels is not None and np.array_equal(labels, run.previous_labels):
                run.result = (run.centers, labels, float(distances.sum()), iteration, True)
                continue
            updated = run.reducer._centroids(data, labels, distances, sums)
            shift = xp.norm(updated - run.centers) ** 2
            run.centers, run.previous_labels = updated, labels
            if shift <= shift_tol:
                settled.append((run, True))
            elif iteration >= run.reducer.max_iter:
                settled.append((run, False))
        if settled:
            # Labels and inertia consistent with the final centres, as _lloyd does.
            finals = _assign(
                [r for r, _ in settled], [r.centers for r, _ in settled], data, squared_norms, False
            )
            for (run, converged), (labels, distances, _) in zip(settled, finals, strict=True):
                run.result = (run.centers, labels, float(distances.sum()), iteration, converged)


def _assign(
    runs: list[_LloydRun],
    centers: list[Array],
    data: Array,
    squared_norms: Array,
    with_sums: bool,
) -> list[tuple[np.ndarray, np.ndarray, Array | None]]:
    """``KMeansReducer._assign`` for several centroid sets, one product per row block."""
    sizes = [c.shape[0] for c in centers]
    slices = _offsets(sizes)
    stacked = _stack(centers)
    center_norms = [xp.row_squared_norms(c) for c in centers]
    batch_size = runs[0].reducer.batch_size
    labels: list[list[np.ndarray]] = [[] for _ in runs]
    distances: list[list[np.ndarray]] = [[] for _ in runs]
    sums = _stack([xp.zeros(c.shape, data) for c in centers]) if with_sums else None
    for start in range(0, data.shape[0], batch_size):
        block = data[start : start + batch_size]
        products = block @ stacked.T  # (rows, Σk): every run's v·p at once
        block_norms = squared_norms[start : start + batch_size, None]
        one_hots = []
        for i, rows in enumerate(slices):
            to_centers = block_norms - 2.0 * products[:, rows]
            block_labels, block_distances = xp.row_argmin(to_centers + center_norms[i][None, :])
            labels[i].append(block_labels)
            distances[i].append(block_distances)
            if with_sums:
                one_hots.append(xp.one_hot(block_labels, sizes[i], data))
        if with_sums:
            sums += xp.thin_times(_stack([h.T for h in one_hots]), block)
    return [
        (
            np.concatenate(labels[i]),
            np.clip(np.concatenate(distances[i]), 0.0, None),
            sums[rows] if with_sums else None,
        )
        for i, rows in enumerate(slices)
    ]


# One batched fit per reducer class; a test checks every entry of REDUCERS has one.
_FITTERS = {PCAReducer: _fit_pca, NMFReducer: _fit_nmf, KMeansReducer: _fit_kmeans}
