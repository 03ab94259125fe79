"""The interface every concept reducer shares: parameters, input checks, conversions.

A reducer factorises a matrix of activations V, shape ``(n_samples, n_features)``
(``n_samples = n·h·w`` positions, ``n_features = c`` channels), as ``V ≈ S·P``
(plus a mean for PCA). ``P`` (``components_``, shape ``(n_components, n_features)``)
holds the concept vectors and ``S`` (shape ``(n_samples, n_components)``) the
concept scores of each position.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from explainers.ice.devices import resolve_device
from explainers.ice.features import float_tensor_view
from explainers.ice.reducers._arrays import (
    CPU_BACKENDS,
    Array,
    blas_threads_for,
    surely_finite_and_nonnegative,
    value_range,
    working_array,
)

ArrayLike = np.ndarray | torch.Tensor

# numpy dtype kinds we convert to float32: bool, signed/unsigned int, float.
_NUMERIC_KINDS = "biuf"


class ConceptReducer(BaseEstimator):
    """Base class of the NMF, PCA and k-means concept reducers.

    Subclasses implement ``_fit``, ``_transform``, ``_inverse_transform`` and
    ``_max_components`` on float32 torch tensors that already live on
    ``device_``; this class validates inputs, moves them there and converts the
    results back to the caller's type.

    Parameters
    ----------
    n_components : int
        Number of concepts c' (at least 1).
    random_state : int or None
        Seed of every random choice; the same seed gives the same result.
    device : str or torch.device
        Where the work runs: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``
        or ``"cuda[:N]"``.
    cpu_backend : {"numpy", "torch"}
        Library the solver computes with when the device is the CPU (on CUDA it
        is always torch). numpy is the default because it stays fast when other
        processes share the cores; see ``_arrays`` and docs/PERFORMANCE.md.
    input_name : str or None
        What the data is (for example ``"layer4"``), named in error messages so a
        caller can tell which layer's activations were rejected.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features), float32
        The concept vectors P (NMF: the NCAVs; PCA: principal axes; k-means:
        centroids).
    n_features_in_ : int
        Number of features seen in ``fit``.
    n_iter_ : int
        Iterations the solver ran (NMF and k-means: of the best run; PCA: 0 for
        the exact solver, the number of power iterations for the randomised one).
    converged_ : bool
        Whether the solver's stopping rule was met before ``max_iter`` (NMF and
        k-means); always True for PCA, which is exact. Fidelity sweeps and
        explainer runs record it, so a result from an early stop is visible.
    reconstruction_err_ : float
        Frobenius norm ``||V - inverse_transform(S)||_F`` on the training data,
        where ``S`` is what ``fit_transform`` returns.
    device_ : torch.device
        The device the reducer computed on.

    Notes
    -----
    Inputs are numpy arrays or torch tensors of shape ``(n_samples, n_features)``;
    outputs have the input's type (numpy in, numpy out; a tensor in, a tensor out
    on the input's device), always float32.
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        random_state: int | None = None,
        device: str | torch.device = "auto",
        cpu_backend: str = "numpy",
        input_name: str | None = None,
    ) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.device = device
        self.cpu_backend = cpu_backend
        self.input_name = input_name

    # ------------------------------------------------------------------ public API
    def fit(self, X: ArrayLike, y: Any = None) -> ConceptReducer:
        """Fit the reducer on ``X``, shape ``(n_samples, n_features)``; return ``self``."""
        self._fit_and_score(X)
        return self

    def fit_transform(self, X: ArrayLike, y: Any = None) -> ArrayLike:
        """Fit on ``X`` and return its scores ``S``, shape ``(n_samples, n_components)``."""
        S = self._fit_and_score(X)
        return _to_caller(S, X)

    def transform(self, X: ArrayLike) -> ArrayLike:
        """Concept scores ``S`` of ``X``: ``(n_samples, n_features) -> (n_samples, n_components)``."""
        self._check_is_fitted()
        self._validate_params()  # set_params() may have changed them since fit()
        data = self._validated_tensor(X, expected_features=self.n_features_in_)
        with blas_threads_for(data.numel()):
            return _to_caller(self._transform(data), X)

    def inverse_transform(self, S: ArrayLike) -> ArrayLike:
        """Reconstruct ``X_hat``: ``(n_samples, n_components) -> (n_samples, n_features)``."""
        self._check_is_fitted()
        scores = _as_float_tensor(S, "S", self.device_, columns="n_components")
        if scores.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"S has {scores.shape[1]} columns but this reducer has "
                f"{self.components_.shape[0]} components; pass the output of transform()."
            )
        return _to_caller(self._inverse_transform(scores), S)

    # ------------------------------------------------------------ subclass hooks
    def _fit(self, X: torch.Tensor) -> torch.Tensor:
        """Learn the components from ``X`` (on ``device_``); return the scores S."""
        raise NotImplementedError

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _inverse_transform(self, S: torch.Tensor) -> torch.Tensor:
        return S @ self._components_tensor()

    def _max_components(self, n_samples: int, n_features: int) -> tuple[int, str]:
        """The largest valid n_components for this data, and why (for messages)."""
        raise NotImplementedError

    # Whether valid data is non-negative (NMF): then one bit-pattern reduction
    # can accept it (see surely_finite_and_nonnegative) before the full checks.
    _requires_nonnegative = False

    def _check_values(self, X: torch.Tensor, minimum: float) -> None:
        """Extra checks on the values of X, given its smallest entry (NMF: non-negativity)."""

    def _validate_params(self) -> None:
        """Check the solver's own parameters (raise ValueError/TypeError)."""

    # ------------------------------------------------------------------ plumbing
    def _fit_and_score(self, X: ArrayLike) -> torch.Tensor:
        if self.cpu_backend not in CPU_BACKENDS:
            raise ValueError(f"cpu_backend={self.cpu_backend!r} is not one of {CPU_BACKENDS}.")
        self._validate_params()
        _check_seed(self.random_state)
        self.device_ = resolve_device(self.device)
        data = self._validated_tensor(X, expected_features=None)
        self._check_n_components(*data.shape)
        with blas_threads_for(data.numel()):
            scores = self._fit(data)
        # Set last, so a fit that fails leaves no half-updated description of the data.
        self.n_features_in_ = int(data.shape[1])
        return scores

    def _input_label(self) -> str:
        return "X" if self.input_name is None else f"X (the activations of {self.input_name!r})"

    def _validated_tensor(self, X: ArrayLike, *, expected_features: int | None) -> torch.Tensor:
        """X as a float32 tensor on ``device_``, after every check on its contents."""
        label = self._input_label()
        data = _as_float_tensor(X, label, self.device_)
        if self._requires_nonnegative and surely_finite_and_nonnegative(self._working(data)):
            return self._checked_feature_count(data, label, expected_features)
        low, high = value_range(self._working(data))
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(
                f"{label} contains NaN or infinite values; check the layer's activations "
                "(a diverged model or a broken image) and remove or fix those rows."
            )
        self._check_values(data, low)
        return self._checked_feature_count(data, label, expected_features)

    @staticmethod
    def _checked_feature_count(
        data: torch.Tensor, label: str, expected_features: int | None
    ) -> torch.Tensor:
        if expected_features is not None and data.shape[1] != expected_features:
            raise ValueError(
                f"{label} has {data.shape[1]} features but this reducer was fitted with "
                f"{expected_features}; use activations of the same layer as in fit()."
            )
        return data

    def _check_n_components(self, n_samples: int, n_features: int) -> None:
        k = self.n_components
        if not isinstance(k, numbers.Integral) or isinstance(k, bool):
            raise TypeError(f"n_components must be an int, got {type(k).__name__} {k!r}.")
        if k < 1:
            raise ValueError(f"n_components must be at least 1, got {k}.")
        limit, why = self._max_components(n_samples, n_features)
        if k > limit:
            raise ValueError(
                f"n_components={k} is too many for {self._input_label()} of shape "
                f"({n_samples}, {n_features}): {type(self).__name__} allows at most {limit} "
                f"({why}); use fewer components or more data."
            )

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X) before using it."
            )

    def _components_tensor(self) -> torch.Tensor:
        # components_ (numpy) is the single source of truth, so a pickled or
        # edited reducer behaves the same; the copy to the device is small.
        return torch.from_numpy(self.components_).to(self.device_)

    def _working(self, tensor: torch.Tensor) -> Array:
        """``tensor`` as the array the solvers compute on (numpy on the CPU by default)."""
        return working_array(tensor, self.cpu_backend)

    def _seeded_generator(self) -> np.random.Generator:
        # Random numbers are drawn on the CPU with numpy and then moved, so the
        # same seed gives the same draws on every device.
        return np.random.default_rng(self.random_state)


def check_positive_int(name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is an int ≥ 1 (for solver parameters)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def check_non_negative(name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is a real number ≥ 0 (for tolerances)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.")


def _check_seed(random_state: Any) -> None:
    if random_state is None:
        return
    if not isinstance(random_state, numbers.Integral) or isinstance(random_state, bool):
        raise TypeError(
            f"random_state must be an int or None, got {type(random_state).__name__}; "
            "pass an integer seed for reproducible results."
        )


def _as_float_tensor(
    X: Any, label: str, device: torch.device, columns: str = "n_features"
) -> torch.Tensor:
    """Validate the container, shape and dtype of X; return it float32 on ``device``."""
    if isinstance(X, torch.Tensor):
        if X.is_complex():
            raise TypeError(f"{label} must hold real numbers, got dtype {X.dtype}.")
        data = X.detach()
    elif isinstance(X, np.ndarray):
        if X.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(
                f"{label} must hold real numbers, got dtype {X.dtype}; convert it with "
                "X.astype(numpy.float32)."
            )
        data = float_tensor_view(np.ascontiguousarray(X, dtype=np.float32))
    else:
        raise TypeError(
            f"{label} must be a numpy array or a torch tensor of shape (n_samples, {columns}), "
            f"got {type(X).__name__}; convert it with numpy.asarray(X)."
        )
    if data.ndim != 2:
        fix = (
            "flatten feature maps (n, h, w, c) with X.reshape(-1, c)"
            if columns == "n_features"
            else "pass the output of transform()"
        )
        raise ValueError(
            f"{label} must be 2-D (n_samples, {columns}), got shape {tuple(data.shape)}; {fix}."
        )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(
            f"{label} is empty (shape {tuple(data.shape)}); it needs at least one row and one column."
        )
    return data.to(device=device, dtype=torch.float32).contiguous()


def _to_caller(result: torch.Tensor, like: ArrayLike) -> ArrayLike:
    """Return ``result`` with the type of ``like``: numpy, or a tensor on its device."""
    if isinstance(like, torch.Tensor):
        return result.to(like.device)
    return result.cpu().numpy()
