"""PCA concept reducer: ``V ≈ S·P + mean`` with orthonormal rows of P; S may be negative."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from explainers.ice.reducers import _arrays as xp
from explainers.ice.reducers import solvers
from explainers.ice.reducers._arrays import Array
from explainers.ice.reducers.base import ConceptReducer, check_positive_int
from explainers.ice.reducers.input_checks import numpy_dtype

SVD_SOLVERS = ("auto", "covariance", "randomized")


class PCAReducer(ConceptReducer):
    """Principal component analysis of the centred data.

    ``components_`` are the top right-singular vectors of ``V - mean_`` with
    scikit-learn's sign convention (the largest-magnitude entry of each component
    is positive, ``svd_flip(u_based_decision=False)``), so results compare
    directly with ``sklearn.decomposition.PCA``.

    Parameters
    ----------
    n_components : int
        Number of components; at most ``min(n_samples, n_features)``.
    svd_solver : {"auto", "covariance", "randomized"}
        ``"covariance"``: eigen-decomposition of the (n_features, n_features)
        covariance, accumulated in float64 over row blocks (exact up to rounding).
        ``"randomized"``: Halko et al.'s randomised SVD with ``n_power_iter``
        power iterations (as scikit-learn's). ``"auto"`` takes the covariance on
        CUDA, when n_features ≤ 1000 or when n_components is at least 80% of
        ``min(n_samples, n_features)``, and the randomised solver otherwise (the
        rule scikit-learn's PCA follows).
    n_oversamples, n_power_iter : int
        Settings of the randomised solver.
    batch_size : int
        Rows per block when accumulating the covariance or projecting.
    random_state, device, cpu_backend, input_name
        See :class:`~explainers.ice.reducers.base.ConceptReducer`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    mean_ : ndarray of shape (n_features,)
    explained_variance_ : ndarray of shape (n_components,)
        Variance along each component (``ddof=1``).
    explained_variance_ratio_ : ndarray of shape (n_components,)
    singular_values_ : ndarray of shape (n_components,)
        All float64 when fitted on float64 data, else float32.
    n_iter_ : int
        0 for the covariance solver, ``n_power_iter`` for the randomised one.
    converged_ : bool
        Always True: both solvers are direct (a fixed number of steps), so there
        is no stopping rule to fall short of; the attribute is there so every
        reducer reports convergence alike.
    reconstruction_err_ : float
        ``||V - S·P - mean_||_F`` on the training data.
    n_features_in_, device_
        See the base class.
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        svd_solver: str = "auto",
        n_oversamples: int = 10,
        n_power_iter: int = 7,
        batch_size: int = 16384,
        random_state: int | None = None,
        device: str | torch.device = "auto",
        cpu_backend: str = "numpy",
        input_name: str | None = None,
    ) -> None:
        super().__init__(
            n_components,
            random_state=random_state,
            device=device,
            cpu_backend=cpu_backend,
            input_name=input_name,
        )
        self.svd_solver = svd_solver
        self.n_oversamples = n_oversamples
        self.n_power_iter = n_power_iter
        self.batch_size = batch_size

    def _validate_params(self) -> None:
        if self.svd_solver not in SVD_SOLVERS:
            raise ValueError(f"svd_solver={self.svd_solver!r} is not one of {SVD_SOLVERS}.")
        for name in ("n_oversamples", "n_power_iter", "batch_size"):
            check_positive_int(name, getattr(self, name))

    def _max_components(self, n_samples: int, n_features: int) -> tuple[int, str]:
        return min(n_samples, n_features), "the smaller of n_samples and n_features"

    def _fit(self, X: torch.Tensor) -> torch.Tensor:
        data = self._working(X)
        n, m = data.shape
        mean = self._column_means(data)
        centred_ss = self._centred_ss(data, mean)
        if self._solver(n, m) == "covariance":
            covariance = self._scatter_matrix(data, mean)
            components, singular_values = _top_eigenvectors(covariance, self.n_components)
            self.n_iter_ = 0
        else:
            _, singular_values, components = solvers.randomized_svd(
                data,
                self.n_components,
                self._seeded_generator(),
                center=xp.like(mean, data),
                n_oversamples=self.n_oversamples,
                n_iter=self.n_power_iter,
            )
            self.n_iter_ = self.n_power_iter
        self.converged_ = True
        components = _flip_signs(_pad_rows(components, self.n_components))
        singular_values = _pad_rows(singular_values, self.n_components)
        self._store(mean, components, singular_values, centred_ss, n, numpy_dtype(X.dtype))
        return self._transform(X)

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        data = self._working(X)
        P = self._working(self._components_tensor(X.dtype))
        centre = xp.like(self.mean_, data)
        # Centre block by block (not X·Pᵀ - mean·Pᵀ) so a large mean cannot cancel digits.
        return torch.cat([xp.as_tensor((block - centre) @ P.T) for block in self._blocks(data)])

    def _inverse_transform(self, S: torch.Tensor) -> torch.Tensor:
        return S @ self._components_tensor(S.dtype) + torch.from_numpy(self.mean_).to(
            S.device, S.dtype
        )

    def _solver(self, n: int, m: int) -> str:
        if self.svd_solver != "auto":
            return self.svd_solver
        exact_is_cheap = self.device_.type == "cuda" or m <= 1000
        return (
            "covariance" if exact_is_cheap or self.n_components >= 0.8 * min(n, m) else "randomized"
        )

    def _column_means(self, data: Array) -> np.ndarray:
        total = sum(xp.host64(xp.column_sums(block)) for block in self._blocks(data))
        return total / data.shape[0]

    def _centred_ss(self, data: Array, mean: np.ndarray) -> float:
        centre = xp.like(mean, data)
        return sum(xp.squared_sum(block - centre) for block in self._blocks(data))

    def _scatter_matrix(self, data: Array, mean: np.ndarray) -> np.ndarray:
        """``(X - mean)ᵀ(X - mean)``, shape (m, m), float64, from float32 blocks."""
        centre = xp.like(mean, data)
        scatter = np.zeros((data.shape[1], data.shape[1]))
        for block in self._blocks(data):
            centred = block - centre
            scatter += xp.host64(centred.T @ centred)
        return scatter

    def _blocks(self, data: Array) -> list[Array]:
        return [
            data[start : start + self.batch_size]
            for start in range(0, data.shape[0], self.batch_size)
        ]

    def _store(
        self,
        mean: np.ndarray,
        components: np.ndarray,
        singular_values: np.ndarray,
        centred_ss: float,
        n: int,
        dtype: type[np.floating],
    ) -> None:
        variance = singular_values**2 / max(n - 1, 1)
        total_variance = centred_ss / max(n - 1, 1)
        self.mean_ = mean.astype(dtype)
        self.components_ = components.astype(dtype)
        self.singular_values_ = singular_values.astype(dtype)
        self.explained_variance_ = variance.astype(dtype)
        ratio = variance / total_variance if total_variance > 0 else np.zeros_like(variance)
        self.explained_variance_ratio_ = ratio.astype(dtype)
        self.reconstruction_err_ = math.sqrt(
            max(centred_ss - float(np.sum(singular_values**2)), 0.0)
        )


def _top_eigenvectors(scatter: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenvectors (rows, largest first) and singular values of a scatter matrix."""
    m = scatter.shape[0]
    values, vectors = scipy.linalg.eigh(scatter, subset_by_index=(m - k, m - 1))
    order = np.argsort(values)[::-1]
    return vectors[:, order].T, np.sqrt(np.clip(values[order], 0.0, None))


def _flip_signs(components: np.ndarray) -> np.ndarray:
    """Make each row's largest-magnitude entry positive (scikit-learn's svd_flip on V)."""
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), largest])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def _pad_rows(values: np.ndarray, rows: int) -> np.ndarray:
    """Zero rows for components the data's rank cannot supply (randomised solver)."""
    missing = rows - values.shape[0]
    if missing <= 0:
        return values
    return np.concatenate([values, np.zeros((missing, *values.shape[1:]))])
