"""The few array operations the solvers need, for numpy arrays and torch tensors alike.

The solvers are written once against this namespace and run on one of two
backends: torch tensors (any device) or, on the CPU, numpy arrays that share
memory with the caller's tensors (``Tensor.numpy()`` and ``torch.from_numpy``
copy nothing). Python's operators (``@``, ``+=``, indexing, ``.T``) already
mean the same thing for both; only what differs lives here.

Why numpy on the CPU: on a small shared machine torch parallelises even short
element-wise operations over its OpenMP pool, and when another process holds
a core each such operation waits for a descheduled thread (measured: a 64k-element
``add_`` went from ~0.03 ms to ~28 ms with the 2 cores busy), while numpy runs
them on one thread. See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

Array = np.ndarray | torch.Tensor

CPU_BACKENDS = ("numpy", "torch")

# Below this many data entries a product is too small for BLAS threads to pay,
# and on a busy machine each threaded call can wait milliseconds for a
# descheduled thread (measured: a 2000×64 by 64×10 product took 15 ms instead
# of ~0.05 ms with the 2 cores oversubscribed). scikit-learn's KMeans limits
# BLAS threads the same way.
SINGLE_THREAD_BELOW = 1 << 21


@lru_cache(maxsize=1)
def _thread_controller() -> ThreadpoolController:
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads_for(n_entries: int) -> Iterator[None]:
    """Run the block with one BLAS thread when the data has few entries; else unchanged."""
    if n_entries >= SINGLE_THREAD_BELOW:
        yield
        return
    with _thread_controller().limit(limits=1, user_api="blas"):
        yield


def working_array(tensor: torch.Tensor, cpu_backend: str) -> Array:
    """The array the solvers compute on: a numpy view of a CPU tensor, else the tensor."""
    if cpu_backend == "numpy" and tensor.device.type == "cpu":
        return tensor.numpy()
    return tensor


def as_tensor(array: Array) -> torch.Tensor:
    """A torch tensor sharing memory with ``array`` (float32 stays float32)."""
    return torch.from_numpy(array) if isinstance(array, np.ndarray) else array


def like(values: np.ndarray, reference: Array) -> Array:
    """Host values as an array of ``reference``'s kind, device and dtype."""
    if isinstance(reference, np.ndarray):
        return np.ascontiguousarray(values, dtype=reference.dtype)
    return torch.from_numpy(np.ascontiguousarray(values)).to(reference.device, reference.dtype)


def host64(array: Array) -> np.ndarray:
    """A float64 numpy copy (for small matrices: Gram matrices, factors' products)."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float64)


def clamp_nonnegative_(array: Array) -> Array:
    """Set negative entries to 0, in place; return the array."""
    if isinstance(array, np.ndarray):
        return np.maximum(array, 0, out=array)
    return array.clamp_(min=0)


def squared_sum(array: Array) -> float:
    """``Σ array²`` accumulated in float64.

    A float32 dot product of millions of positive terms drifts by ~1e-4 relative
    (measured), enough to bias an objective that subtracts from it.
    """
    if isinstance(array, np.ndarray):
        return float(np.sum(np.square(array), dtype=np.float64))
    return float(array.double().square().sum())


def copy(array: Array) -> Array:
    return array.copy() if isinstance(array, np.ndarray) else array.clone()


def norm(array: Array) -> float:
    """Frobenius norm as a Python float."""
    if isinstance(array, np.ndarray):
        return float(np.linalg.norm(array))
    return float(torch.linalg.vector_norm(array))


def zeros(shape: tuple[int, ...], reference: Array) -> Array:
    if isinstance(reference, np.ndarray):
        return np.zeros(shape, dtype=reference.dtype)
    return torch.zeros(shape, dtype=reference.dtype, device=reference.device)


def column_sums(array: Array) -> Array:
    """Sums over axis 0: shape (p, q) -> (q,)."""
    return array.sum(axis=0) if isinstance(array, np.ndarray) else array.sum(dim=0)


def row_squared_norms(array: Array) -> Array:
    """Squared Euclidean norm of each row: shape (p, q) -> (p,)."""
    if isinstance(array, np.ndarray):
        return np.einsum("ij,ij->i", array, array)
    return torch.linalg.vector_norm(array, dim=1).square_()


def row_argmin(array: Array) -> tuple[np.ndarray, np.ndarray]:
    """Index (int64) and value (float64) of each row's minimum, on the host: (p, q) -> (p,), (p,)."""
    if isinstance(array, np.ndarray):
        indices = array.argmin(axis=1)
        return indices.astype(np.int64), array[np.arange(array.shape[0]), indices].astype(
            np.float64
        )
    values, indices = array.min(dim=1)
    return indices.cpu().numpy().astype(np.int64), values.double().cpu().numpy()


def one_hot(labels: np.ndarray, n_classes: int, reference: Array) -> Array:
    """Rows of the identity picked by ``labels`` (p,), shape (p, n_classes), like ``reference``."""
    if isinstance(reference, np.ndarray):
        encoded = np.zeros((labels.shape[0], n_classes), dtype=reference.dtype)
        encoded[np.arange(labels.shape[0]), labels] = 1
        return encoded
    indices = torch.from_numpy(labels).to(reference.device)
    return torch.nn.functional.one_hot(indices, n_classes).to(reference.dtype)


def take_rows(array: Array, indices: np.ndarray) -> Array:
    """Rows ``array[indices]`` (a copy), for host integer indices."""
    if isinstance(array, np.ndarray):
        return array[indices]
    return array[torch.from_numpy(np.asarray(indices, dtype=np.int64)).to(array.device)]


def value_range(array: Array, batch_rows: int = 256) -> tuple[float, float]:
    """``(min, max)`` of an array; NaN propagates into both.

    So the input is finite exactly when both ends are, and its sign is known:
    one check for what used to take a sum (finiteness) and a minimum (NMF's
    non-negativity). numpy arrays go in row blocks that stay in cache between
    the two reductions (one pass over memory). torch's ``aminmax`` is used only
    for tensors: on the CPU its thread pool, woken next to numpy's BLAS threads
    on two cores, made the following product ~2× slower.
    """
    if isinstance(array, np.ndarray):
        low, high = np.inf, -np.inf
        for start in range(0, array.shape[0], batch_rows):
            block = array[start : start + batch_rows]
            block_low, block_high = float(block.min()), float(block.max())
            if math.isnan(block_low) or math.isnan(block_high):
                return math.nan, math.nan  # (Python's min() would drop a NaN)
            low, high = min(low, block_low), max(high, block_high)
        return low, high
    low_t, high_t = torch.aminmax(array)
    return float(low_t), float(high_t)


# Bit patterns of float32 read as unsigned ints: +0.0 to the largest finite
# float are 0 to 0x7F7FFFFF; +inf is 0x7F800000, NaNs lie above it, and every
# value with the sign bit set (negatives, -0.0, -inf) is 0x80000000 or more.
_FLOAT32_INF_BITS = 0x7F800000


def surely_finite_and_nonnegative(array: Array) -> bool:
    """True only if every entry is finite and ≥ 0, in one integer reduction.

    A False may still be valid data (-0.0 has the sign bit set), so the caller
    falls back to :func:`value_range` for the verdict and the message. For
    numpy float32 this is one max over the bits (~2.2 ms for a (12250, 2048)
    array, against ~4 ms for a min and a max); anything else returns False.
    """
    if isinstance(array, np.ndarray) and array.dtype == np.float32 and array.flags.c_contiguous:
        return bool(array.view(np.uint32).max() < _FLOAT32_INF_BITS)
    return False


def count_below(array: Array, threshold: float) -> int:
    return int((array < threshold).sum())


def combine_rows(weights: Array, rows: Array) -> Array:
    """``weights @ rows`` for weights (k,) and rows (k, p), as a plain loop, not BLAS.

    numpy's BLAS gemv on this shape ran at ~0.3 GFLOP/s (2.2 ms for k=50,
    p=12,250; 7.8 ms with 2 threads on a busy machine) against 0.3 ms for einsum's
    single-threaded sum of products; the HALS passes call it k times per pass.
    """
    if isinstance(rows, np.ndarray):
        return np.einsum("i,ij->j", weights, rows)
    return weights @ rows


def thin_times(left: Array, data: Array) -> Array:
    """``left @ data`` for a short, wide ``left`` (k, n) and a tall ``data`` (n, m).

    Computed as ``(dataᵀ·leftᵀ)ᵀ``: the same product, but OpenBLAS runs this
    orientation ~6× faster (measured 0.17 s against 1.1 s for k = 10, n = 63,700,
    m = 2,048 with both cores busy), and MKL is no slower.
    """
    return (data.T @ left.T).T
