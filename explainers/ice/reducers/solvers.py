"""Numerical kernels of the reducers: randomised SVD, NNDSVD and the NMF fit by HALS.

Every function takes and returns *working arrays* (see ``_arrays``): numpy arrays
on the CPU or torch tensors on any device, float32 (float64 for float64 input), all
of one kind. Small matrices (Gram matrices, the sketch's factors) are handled in
float64 on the host.

HALS (hierarchical alternating least squares) is the block coordinate descent
of Cichocki & Phan (2009), "Fast local algorithms for large scale nonnegative
matrix and tensor factorizations", with the repeated inner passes of Gillis &
Glineur (2012), "Accelerated multiplicative updates and hierarchical ALS
algorithms for nonnegative matrix factorization"; its passes are in ``hals``
(``hals_cuda`` on a GPU). NNDSVD is Boutsidis &
Gallopoulos (2008), "SVD based initialization: a head start for nonnegative
matrix factorization"; the randomised SVD is Halko, Martinsson & Tropp (2011).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from explainers.ice.reducers import _arrays as xp
from explainers.ice.reducers._arrays import Array
from explainers.ice.reducers.hals import hals_sweeps
from explainers.ice.reducers.hals_cuda import HalsPasses

# Repeated HALS passes per product (Gillis & Glineur 2012) pay only where a
# pass is cheap next to the product. A pass over the components P (k, m) is
# ~1% of the product that feeds it; a pass over the scores (k, n) runs row by
# row over all n samples and costs as much as a sizeable share of one. Measured
# on synthetic layer4 data (14,700 × 2,048), iterations to reach scikit-learn's
# error: plain HALS 139 (c' = 10) and 147 (c' = 50); up to 10 passes over P
# only, 101 and 159; 3 passes over S as well, 122 and 248. See docs/PERFORMANCE.md.
_SCORE_PASSES = 1
_COMPONENT_PASSES = 10
# Below this relative error (error² < share·||X||²) the cheap objective loses
# its digits to float32 cancellation, so the residual is computed directly.
_CHEAP_ERROR_MIN_SHARE = 1e-2
# The stopping test compares the error with its value this many iterations before.
# HALS on real activations crosses plateaus where single iterations improve the
# error by only ~5e-6 of it before speeding up again (the demo's "bus" class: 0.3%
# above the converged error at iteration 71, below it by 150); a mean over several
# iterations is less easily fooled by one slow step. See docs/PERFORMANCE.md.
TOL_WINDOW = 10
# Directions of a sketch whose squared length is below this share of the
# largest are numerically zero (the data has lower rank than the sketch).
_RANK_CUTOFF = 1e-12


def orthonormal_columns(Z: Array) -> Array:
    """An orthonormal basis of the column space of Z, shape (p, q) -> (p, r), r ≤ q.

    Eigen-decomposition of the small Gram matrix ``ZᵀZ`` in float64, done twice
    to restore the orthogonality the first pass loses (as CholeskyQR2, but
    tolerant of rank deficiency); far cheaper than a Householder QR of a tall
    matrix on a busy CPU.
    """
    for _ in range(2):
        values, vectors = np.linalg.eigh(xp.host64(Z.T @ Z))
        keep = values > _RANK_CUTOFF * max(values[-1], np.finfo(np.float64).tiny)
        Z = Z @ xp.like(vectors[:, keep] / np.sqrt(values[keep]), Z)
    return Z


def randomized_svd(
    X: Array,
    rank: int,
    rng: np.random.Generator,
    *,
    center: Array | None = None,
    n_oversamples: int = 10,
    n_iter: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truncated SVD ``X - center ≈ U·diag(s)·Vt`` by a randomised range finder.

    Parameters
    ----------
    X : array of shape (n, m)
    rank : int
        Number of singular triplets wanted; fewer come back when X has lower rank.
    rng : numpy Generator
        Source of the Gaussian test matrix, drawn on the host so that every
        device sees the same numbers.
    center : array of shape (m,) or None
        Row subtracted from X implicitly (rank-one corrections; X is not copied).
    n_oversamples, n_iter : int
        Extra sketch columns, and power iterations (each re-orthonormalised).

    Returns
    -------
    U : array (n, r), s : ndarray (r,), Vt : ndarray (r, m), with r ≤ rank
        U is a working array like X; s and Vt are float64 numpy arrays.
    """
    n, m = X.shape
    width = min(rank + n_oversamples, n, m)
    omega = xp.like(rng.standard_normal((m, width)), X)

    def times(Z: Array) -> Array:  # (X - 1·centerᵀ)·Z
        return X @ Z if center is None else X @ Z - center @ Z

    def transposed_times(Q: Array) -> Array:  # (X - 1·centerᵀ)ᵀ·Q
        out = X.T @ Q
        return out if center is None else out - center[:, None] * xp.column_sums(Q)[None, :]

    Q = orthonormal_columns(times(omega))
    for _ in range(n_iter):
        Q = orthonormal_columns(times(orthonormal_columns(transposed_times(Q))))
    U_small, s, Vt = np.linalg.svd(xp.host64(transposed_times(Q)).T, full_matrices=False)
    r = min(rank, s.shape[0])
    return Q @ xp.like(U_small[:, :r], X), s[:r], Vt[:r]


def nndsvd(
    X: Array, rank: int, rng: np.random.Generator, *, fill_mean: bool
) -> tuple[Array, Array]:
    """NNDSVD initial factors of ``X ≈ Stᵀ·P`` (``fill_mean``: the "nndsvda" variant).

    Each singular pair (u, v) is replaced by the larger (in norm product) of its
    positive parts (u+, v+) and its negative parts (u-, v-), scaled to keep the
    singular value; the first pair is taken in absolute value. Entries below
    1e-6 become 0 and, with ``fill_mean``, are then set to the mean of X so
    coordinate descent can move them.

    Parameters
    ----------
    X : array of shape (n, m), non-negative

    Returns
    -------
    St : array of shape (rank, n)
        The scores, transposed (each component's scores contiguous).
    P : array of shape (rank, m)
    """
    U, s, Vt = randomized_svd(X, rank, rng, n_iter=nndsvd_power_iterations(X.shape, rank))
    return nndsvd_from_svd(X, rank, U, s, Vt, fill_mean=fill_mean)


def nndsvd_power_iterations(shape: tuple[int, int], rank: int) -> int:
    """Power iterations of NNDSVD's randomised SVD for data of ``shape`` and ``rank``."""
    # scikit-learn's rule for the number of power iterations. Fewer (2) made a
    # worse start at c' = 50: HALS then needed 392 iterations instead of 114 to
    # reach scikit-learn's error on 63,700 × 2,048 synthetic layer4 data.
    return 7 if rank < 0.1 * min(shape) else 4


def nndsvd_from_svd(
    X: Array, rank: int, U: Array, s: np.ndarray, Vt: np.ndarray, *, fill_mean: bool
) -> tuple[Array, Array]:
    """NNDSVD's factors from a truncated SVD ``U·diag(s)·Vt`` of X (see :func:`nndsvd`)."""
    U = xp.host64(U)
    St = np.zeros((rank, X.shape[0]))
    P = np.zeros((rank, X.shape[1]))
    for j in range(s.shape[0]):
        St[j], P[j] = _nonnegative_pair(U[:, j], Vt[j], s[j], first=j == 0)
    St[St < 1e-6] = 0
    P[P < 1e-6] = 0
    if fill_mean:
        mean = float(X.mean())
        St[St == 0] = mean
        P[P == 0] = mean
    return xp.like(St, X), xp.like(P, X)


def _nonnegative_pair(
    u: np.ndarray, v: np.ndarray, sigma: float, *, first: bool
) -> tuple[np.ndarray, np.ndarray]:
    if first:  # the leading singular vectors of non-negative data have one sign
        return math.sqrt(sigma) * np.abs(u), math.sqrt(sigma) * np.abs(v)
    parts = []
    for sign in (1.0, -1.0):
        up, vp = np.maximum(sign * u, 0), np.maximum(sign * v, 0)
        parts.append((np.linalg.norm(up) * np.linalg.norm(vp), up, vp))
    mass, up, vp = max(parts, key=lambda part: part[0])
    if mass == 0:  # nothing non-negative in this pair; fill_mean revives it
        return np.zeros_like(u), np.zeros_like(v)
    weight = math.sqrt(sigma * mass)
    return weight * up / np.linalg.norm(up), weight * vp / np.linalg.norm(vp)


def random_nmf_init(X: Array, rank: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Half-normal factors scaled so ``Stᵀ·P`` has about the mean of X.

    Returns ``St`` of shape (rank, n) and ``P`` of shape (rank, m).
    """
    n, m = X.shape
    scale = math.sqrt(float(X.mean()) / rank)
    St = np.abs(rng.standard_normal((rank, n))) * scale
    P = np.abs(rng.standard_normal((rank, m))) * scale
    return xp.like(St, X), xp.like(P, X)


def _passes_over(F: Array) -> Callable[[Array, Array, int], int]:
    """``hals_sweeps`` bound to F: replayed as CUDA graphs for a GPU tensor."""
    if isinstance(F, torch.Tensor) and F.is_cuda:
        return HalsPasses(F).run
    return lambda A, B, max_sweeps: hals_sweeps(F, A, B, max_sweeps)


def squared_norm(X: Array, batch_rows: int = 8192) -> float:
    """``||X||_F²``, summed over row blocks in float64 (no float64 copy of X)."""
    return sum(
        xp.squared_sum(X[start : start + batch_rows]) for start in range(0, X.shape[0], batch_rows)
    )


def nmf_hals(
    X: Array,
    St: Array,
    P: Array,
    *,
    max_iter: int,
    tol: float,
    callback: Callable[[int, float], bool | None] | None = None,
) -> tuple[int, float, bool]:
    """Fit ``X ≈ Stᵀ·P`` with ``St, P ≥ 0`` by accelerated HALS, in place.

    Minimises ``½||X - Stᵀ·P||_F²``. Stops after ``max_iter`` iterations or when
    the last ``TOL_WINDOW`` iterations together improved ``||X - Stᵀ·P||_F`` by
    at most ``TOL_WINDOW · tol`` times its value then (a mean relative improvement
    of at most ``tol`` per iteration; ``tol = 0``: always run ``max_iter``). The
    objective comes from the small matrices of the P update
    (``||X||² - 2<St·X, P> + <St·Stᵀ, P·Pᵀ>``), so tracking it is nearly free.

    Parameters
    ----------
    X : array of shape (n, m), non-negative
    St : array of shape (k, n), the initial scores (transposed), updated in place
    P : array of shape (k, m), the initial components, updated in place
    callback : callable or None
        Called as ``callback(iteration, error)`` after every iteration; returning
        True stops the fit (the benchmark uses it to find when a target error is
        reached).

    Returns
    -------
    n_iter : int
    error : float
        ``||X - Stᵀ·P||_F`` at the end.
    converged : bool
        Whether the ``tol`` test stopped the fit (False when it ran out of
        ``max_iter``, when ``tol = 0`` and when the callback stopped it).
    """
    data_norm_sq = squared_norm(X)
    recent: deque[float] = deque(maxlen=TOL_WINDOW + 1)  # errors of the last iterations
    score_passes, component_passes = _passes_over(St), _passes_over(P)
    for iteration in range(1, max_iter + 1):
        score_passes(P @ X.T, P @ P.T, _SCORE_PASSES)
        A, B = xp.thin_times(St, X), St @ St.T
        component_passes(A, B, _COMPONENT_PASSES)
        error = _error_from_products(data_norm_sq, A, B, P)
        if error**2 < _CHEAP_ERROR_MIN_SHARE * data_norm_sq:
            error = math.sqrt(residual_squared_norm(X, St, P))
        if callback is not None and callback(iteration, error):
            break
        recent.append(error)
        if (
            tol > 0
            and len(recent) > TOL_WINDOW
            and recent[0] - error <= TOL_WINDOW * tol * recent[0]
        ):
            return iteration, error, True
    return iteration, error, False


def _error_from_products(data_norm_sq: float, A: Array, B: Array, P: Array) -> float:
    """``||X - Stᵀ·P||_F`` from ``A = St·X`` and ``B = St·Stᵀ``, in float64."""
    A64, B64, P64 = xp.host64(A), xp.host64(B), xp.host64(P)
    squared = data_norm_sq - 2.0 * float(np.sum(A64 * P64)) + float(np.sum(B64 * (P64 @ P64.T)))
    return math.sqrt(max(squared, 0.0))


def residual_squared_norm(X: Array, St: Array, P: Array, batch_rows: int = 8192) -> float:
    """``||X - Stᵀ·P||_F²`` computed block by block (costs one more product with X)."""
    total = 0.0
    for start in range(0, X.shape[0], batch_rows):
        stop = start + batch_rows
        total += xp.squared_sum(X[start:stop] - St[:, start:stop].T @ P)
    return total
