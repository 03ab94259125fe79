"""Non-negative least squares with fixed components: the NMF reducer's ``transform``.

For data Y (b, m) and components P (k, m) every row needs
``argmin_{s ≥ 0} ||y - Pᵀ·s||``. All rows share ``B = P·Pᵀ`` (k, k), so after
one product ``A = P·Yᵀ`` (k, b) the work is O(k²·b) per pass: HALS passes
(Cichocki & Phan 2009) converge to a tolerance, and on request block principal
pivoting (Kim & Park 2011, "Fast nonnegative matrix factorization: an
active-set-like method and comparisons", SIAM J. Sci. Comput.) finishes exactly
from the support they found.
"""

from __future__ import annotations

import numpy as np

from explainers.ice.reducers import _arrays as xp
from explainers.ice.reducers._arrays import Array
from explainers.ice.reducers.hals import hals_sweep


def nonnegative_least_squares(
    A: Array,
    B: Array,
    *,
    max_iter: int,
    tol: float,
    exact: bool = False,
    exact_gram: np.ndarray | None = None,
) -> Array:
    """Solve ``min_F ½·tr(Fᵀ·B·F) - tr(Aᵀ·F)`` over ``F ≥ 0``: NNLS with fixed components.

    For data Y (b, m) and components P (k, m), ``A = P·Yᵀ`` and ``B = P·Pᵀ`` make
    column i of F ``argmin_{s ≥ 0} ||y_i - Pᵀ·s||``. Each column starts from the
    better of 0 and the clipped least-squares solution; HALS passes run until one
    changes F by at most ``tol·||F||_F`` (or ``max_iter`` passes). With
    ``exact``, block principal pivoting from the support they found makes each
    column exact; columns it cannot certify within its round limit keep the
    HALS values.

    Parameters
    ----------
    A : array of shape (k, b)
    B : array of shape (k, k)
    exact : bool
        Finish with block principal pivoting.
    exact_gram : ndarray of shape (k, k) or None
        ``B`` computed in float64 from the components, for the final exact
        pivoting step (a float32 Gram matrix of nearly dependent components is
        not accurate enough to pin the solution down).

    Returns
    -------
    F : array of shape (k, b), non-negative
    """
    F = xp.clamp_nonnegative_(xp.like(np.linalg.pinv(xp.host64(B), hermitian=True), A) @ A)
    objective = xp.column_sums(0.5 * F * (B @ F) - A * F)
    F *= objective < 0  # keep the clipped start only where it beats zero
    diagonal = xp.host64(B.diagonal()).tolist()
    for _ in range(max_iter):
        before = xp.copy(F)
        hals_sweep(F, A, B, diagonal)
        if xp.norm(F - before) <= tol * xp.norm(F):
            break
    if not exact:
        return F
    gram = xp.host64(B) if exact_gram is None else exact_gram
    pivoted, solved = principal_pivoting(xp.host64(F) > 0, xp.host64(A), gram)
    if solved.all():
        return xp.like(pivoted, F)
    # Columns pivoting did not certify keep their HALS values.
    F_host = xp.host64(F)
    F_host[:, solved] = pivoted[:, solved]
    return xp.like(F_host, F)


def principal_pivoting(
    passive: np.ndarray, A: np.ndarray, B: np.ndarray, *, max_rounds: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Exact NNLS by block principal pivoting (Kim & Park 2011), from a guessed support.

    Solves ``min_{f ≥ 0} ½·fᵀ·B·f - aᵀ·f`` for every column a of A (float64, on
    the host). Each round solves the unconstrained problem on each column's
    passive set (one batched linear solve) and checks the KKT conditions; a
    column that meets them is exact. Failing columns exchange their infeasible
    variables (all of them while that reduces their number, with Kim & Park's
    three-try backup to a single exchange, which cannot cycle).

    Parameters
    ----------
    passive : ndarray of shape (k, b), bool
        Starting guess of where each column's solution is positive (from HALS).
    A : ndarray of shape (k, b)
    B : ndarray of shape (k, k), symmetric positive semi-definite

    Returns
    -------
    F : ndarray of shape (k, b), float64
        The solutions (zeros where ``solved`` is False).
    solved : ndarray of shape (b,), bool
        Columns whose KKT conditions hold.
    """
    k, b = A.shape
    F, solved = np.zeros((k, b)), np.zeros(b, dtype=bool)
    todo = np.arange(b)
    support = passive.T.copy()  # (b, k)
    tries, best_count = np.full(b, 3), np.full(b, k + 1)
    ridge = 1e-12 * max(float(np.max(np.diag(B))), np.finfo(np.float64).tiny)
    for _ in range(max_rounds):
        f = _solve_on_supports(B, A[:, todo].T, support[todo], ridge)
        gradient = f @ B - A[:, todo].T
        scale = np.abs(A[:, todo].T).max(axis=1, keepdims=True) + np.finfo(np.float64).tiny
        infeasible = (support[todo] & (f < -1e-10 * scale)) | (
            ~support[todo] & (gradient < -1e-8 * scale)
        )
        ok = ~infeasible.any(axis=1)
        F[:, todo[ok]], solved[todo[ok]] = np.maximum(f[ok], 0).T, True
        todo, infeasible = todo[~ok], infeasible[~ok]
        if todo.size == 0:
            break
        _exchange(support, todo, infeasible, tries, best_count)
    return F, solved


def _solve_on_supports(
    B: np.ndarray, rhs: np.ndarray, support: np.ndarray, ridge: float
) -> np.ndarray:
    """For each row i: solve ``B[s, s]·f_s = rhs_i[s]`` on ``s = support[i]``; zeros elsewhere.

    Rows are grouped by support size so each group is one batched solve of
    small systems (supports are typically a fraction of k; padding every system
    to k×k cost ~20× more at k = 50). ``ridge`` keeps singular blocks solvable.
    One ``nonzero`` over all rows gives every row's columns as a contiguous run,
    and the blocks are gathered with flat indices: both cheaper than fancy
    indexing per group.
    """
    k = B.shape[0]
    out = np.zeros_like(rhs)
    sizes = support.sum(axis=1)
    starts = np.cumsum(sizes) - sizes
    all_columns = np.nonzero(support)[1]  # row-major: row i's columns at starts[i]...
    flat_B = B.ravel()
    for size in np.unique(sizes):
        if size == 0:
            continue
        rows = np.flatnonzero(sizes == size)
        columns = all_columns[starts[rows][:, None] + np.arange(size)]
        systems = np.take(flat_B, columns[:, :, None] * k + columns[:, None, :])
        systems += ridge * np.eye(size)
        right = np.take_along_axis(rhs[rows], columns, axis=1)[..., None]
        out[rows[:, None], columns] = np.linalg.solve(systems, right)[..., 0]
    return out


def _exchange(
    support: np.ndarray,
    todo: np.ndarray,
    infeasible: np.ndarray,
    tries: np.ndarray,
    best_count: np.ndarray,
) -> None:
    """Kim & Park's exchange rule, in place on ``support``, ``tries`` and ``best_count``."""
    count = infeasible.sum(axis=1)
    better = count < best_count[todo]
    best_count[todo[better]] = count[better]
    tries[todo[better]] = 3
    worse = ~better
    tries[todo[worse]] -= 1
    single = worse & (tries[todo] < 0)
    full = ~single
    support[todo[full]] ^= infeasible[full]
    if single.any():
        last = infeasible.shape[1] - 1 - np.argmax(infeasible[single][:, ::-1], axis=1)
        support[todo[single], last] ^= True
