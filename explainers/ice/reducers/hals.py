"""HALS passes over one factor: the row update, and how many passes to repeat.

HALS is the block coordinate descent of Cichocki & Phan (2009); repeating the
cheap pass over one factor while it pays is Gillis & Glineur (2012). The NMF fit
(``solvers.nmf_hals``), the fixed-components transform (``nnls``) and the GPU
passes (``hals_cuda``) all use these, so the stopping rule lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable

from explainers.ice.reducers import _arrays as xp
from explainers.ice.reducers._arrays import Array

# Repeated passes stop once one changes the factor by less than this share of
# the change the first pass made (Gillis & Glineur's delta).
INNER_DELTA = 0.1


def repeat_passes(
    one_pass: Callable[[bool], float | None], max_sweeps: int, delta: float = INNER_DELTA
) -> int:
    """Call ``one_pass`` up to ``max_sweeps`` times; return how many passes ran.

    ``one_pass(measure)`` makes one pass and, when ``measure`` is true, returns
    how much it changed the factor (a norm). Passes stop once one changes it by
    at most ``delta`` times the first pass did. A single pass is not measured.
    """
    if max_sweeps == 1:
        one_pass(False)
        return 1
    first_change = None
    for sweep in range(1, max_sweeps + 1):
        change = one_pass(True)
        if first_change is None:
            first_change = change
        elif change <= delta * first_change:
            return sweep
    return max_sweeps


def hals_sweep(F: Array, A: Array, B: Array, diagonal: list[float]) -> None:
    """One HALS pass over the rows of ``F ≥ 0`` for ``½·tr(Fᵀ·B·F) - tr(Aᵀ·F)``, in place.

    That objective is ``½||Y - Fᵀ·G||²`` up to a constant, with ``A = G·Yᵀ`` and
    ``B = G·Gᵀ``, so a pass costs O(k²·p) instead of the product's O(k·p·q).
    Each row becomes the exact minimiser with the other rows fixed.

    Parameters
    ----------
    F : array of shape (k, p), updated in place
    A : array of shape (k, p)
    B : array of shape (k, k), symmetric positive semi-definite
    diagonal : list of float
        ``B``'s diagonal on the host (one device sync per pass, not k).
    """
    for j, b_jj in enumerate(diagonal):
        if b_jj <= 0.0:  # a dead component: nothing determines its row
            continue
        row = F[j]
        row += (A[j] - xp.combine_rows(B[j], F)) * (1.0 / b_jj)
        xp.clamp_nonnegative_(row)


def hals_sweeps(F: Array, A: Array, B: Array, max_sweeps: int, delta: float = INNER_DELTA) -> int:
    """Repeat :func:`hals_sweep` while it pays (Gillis & Glineur 2012), in place.

    Stops as :func:`repeat_passes` says. Shapes as in :func:`hals_sweep`.

    Returns
    -------
    int
        Passes done.
    """
    diagonal = xp.host64(B.diagonal()).tolist()

    def one_pass(measure: bool) -> float | None:
        before = xp.copy(F) if measure else None
        hals_sweep(F, A, B, diagonal)
        return xp.norm(F - before) if measure else None

    return repeat_passes(one_pass, max_sweeps, delta)
