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
import numpy.typing as npt
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import Tags

from explainers.ice.devices import resolve_device
from explainers.ice.reducers._arrays import (
    CPU_BACKENDS,
    Array,
    blas_threads_for,
    surely_finite_and_nonnegative,
    value_range,
    working_array,
)
from explainers.ice.reducers.input_checks import as_float_tensor

# What the reducers take (anything numpy.asarray reads, or a tensor) and return.
Data = npt.ArrayLike | torch.Tensor
ArrayLike = np.ndarray | torch.Tensor


class ConceptReducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the NMF, PCA and k-means concept reducers.

    Subclasses implement ``_fit``, ``_transform``, ``_inverse_transform`` and
    ``_max_components`` on float32 (or float64) torch tensors that already live
    on ``device_``; this class validates inputs, moves them there and converts
    the results back to the caller's type. The reducers pass scikit-learn's
    ``check_estimator`` (see ``EXPECTED_FAILED_CHECKS`` in the package and
    docs/core.md), so they work in pipelines, grid searches, ``clone`` and pickle.

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
    components_ : ndarray of shape (n_components, n_features), float32 or float64
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
    Inputs are numpy arrays (or anything ``numpy.asarray`` reads: lists, pandas
    frames) or torch tensors of shape ``(n_samples, n_features)``; outputs have the
    input's type (numpy in, numpy out; a tensor in, a tensor out on the input's
    device). The work and the output are float64 for float64 input and float32 for
    any other real dtype (the speed-critical case: the core's feature maps are
    float32); fitted attributes have the dtype of the data seen in ``fit``.
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

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.positive_only = self._requires_nonnegative
        tags.input_tags.sparse = False  # activations are dense; a sparse X is refused
        return tags

    @property
    def _n_features_out(self) -> int:
        # For get_feature_names_out() ("nmfreducer0", ...) and set_output().
        return self.components_.shape[0]

    # ------------------------------------------------------------------ public API
    def fit(self, X: Data, y: Any = None) -> ConceptReducer:
        """Fit the reducer on ``X``, shape ``(n_samples, n_features)``; return ``self``."""
        self._fit_and_score(X)
        return self

    def fit_transform(self, X: Data, y: Any = None) -> ArrayLike:
        """Fit on ``X`` and return its scores ``S``, shape ``(n_samples, n_components)``."""
        S = self._fit_and_score(X)
        return _to_caller(S, X)

    def transform(self, X: Data) -> ArrayLike:
        """Concept scores ``S`` of ``X``: ``(n_samples, n_features) -> (n_samples, n_components)``."""
        self._check_is_fitted()
        self._validate_params()  # set_params() may have changed them since fit()
        data = self._validated_tensor(X, expected_features=self.n_features_in_)
        with blas_threads_for(data.numel()):
            return _to_caller(self._transform(data), X)

    def inverse_transform(self, S: Data) -> ArrayLike:
        """Reconstruct ``X_hat``: ``(n_samples, n_components) -> (n_samples, n_features)``."""
        self._check_is_fitted()
        scores = as_float_tensor(S, "S", self.device_, columns="n_components")
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
        return S @ self._components_tensor(S.dtype)

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
    def _fit_and_score(self, X: Data) -> torch.Tensor:
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

    def _validated_tensor(self, X: Data, *, expected_features: int | None) -> torch.Tensor:
        """X as a float32 (or float64) tensor on ``device_``, after every check on its contents."""
        label = self._input_label()
        data = as_float_tensor(X, label, self.device_)
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

    def _checked_feature_count(
        self, data: torch.Tensor, label: str, expected_features: int | None
    ) -> torch.Tensor:
        if expected_features is not None and data.shape[1] != expected_features:
            # "X has 3 features, but NMFReducer is expecting 4 features as input" is
            # scikit-learn's wording, which its estimator checks look for.
            raise ValueError(
                f"{label} has {data.shape[1]} features, but {type(self).__name__} is "
                f"expecting {expected_features} features as input (it was fitted with "
                f"{expected_features}); use activations of the same layer as in fit()."
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

    def _components_tensor(self, dtype: torch.dtype) -> torch.Tensor:
        """``components_`` on ``device_`` in ``dtype`` (the dtype of the data it meets)."""
        # components_ (numpy) is the single source of truth, so a pickled or
        # edited reducer behaves the same; the copy to the device is small.
        return torch.from_numpy(self.components_).to(self.device_, dtype)

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


def _to_caller(result: torch.Tensor, like: Data) -> ArrayLike:
    """Return ``result`` with the type of ``like``: a tensor on its device, else numpy."""
    if isinstance(like, torch.Tensor):
        return result.to(like.device)
    return result.cpu().numpy()
