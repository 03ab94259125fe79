"""What the reducers accept as data, and the messages for what they refuse.

The reducers take what scikit-learn's estimators take (numpy arrays, lists,
pandas frames, anything with ``__array__``) and torch tensors on any device. Each
refusal names the input and the fix and, where scikit-learn's estimator checks
look for a phrase (``check_estimator``: "Complex data not supported", "Reshape
your data", "0 feature(s) (shape=(12, 0)) while a minimum of 1 is required",
"sparse"), contains that phrase too, so tools written against scikit-learn's
contract recognise the error.

Data is computed on in float32 (the core's feature maps are float32, and float32
halves the memory traffic the solvers are bound by) except that float64 stays
float64, as scikit-learn's own NMF, PCA and KMeans preserve it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch

from explainers.ice.features import float_tensor_view

# numpy dtype kinds read as real numbers: bool, signed and unsigned int, float.
_NUMERIC_KINDS = "biuf"


def as_float_tensor(
    X: Any, label: str, device: torch.device, columns: str = "n_features"
) -> torch.Tensor:
    """Validate the container, shape and dtype of X; return it as a tensor on ``device``.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_columns)
    label : str
        How messages name X (for example ``"X (the activations of 'layer4')"``).
    device : torch.device
    columns : str
        What the columns are, for messages (``"n_features"`` or ``"n_components"``).

    Returns
    -------
    torch.Tensor of shape (n_samples, n_columns), contiguous
        float64 when X is float64, else float32.
    """
    if isinstance(X, torch.Tensor):
        data = _tensor_data(X, label)
    else:
        data = _array_data(X, label, columns)
    _check_shape(tuple(data.shape), label, columns)
    dtype = torch.float64 if data.dtype == torch.float64 else torch.float32
    return data.to(device=device, dtype=dtype).contiguous()


def numpy_dtype(dtype: torch.dtype) -> type[np.floating]:
    """The numpy dtype of fitted attributes for data of torch ``dtype`` (float64 or float32)."""
    return np.float64 if dtype == torch.float64 else np.float32


def _tensor_data(X: torch.Tensor, label: str) -> torch.Tensor:
    if X.layout != torch.strided:
        raise TypeError(
            f"{label} is a sparse tensor ({X.layout}); sparse input is not supported by the "
            "reducers: pass X.to_dense()."
        )
    if X.is_complex():
        raise ValueError(_complex_message(label, X.dtype))
    return X.detach()


def _array_data(X: Any, label: str, columns: str) -> torch.Tensor:
    if scipy.sparse.issparse(X):
        raise TypeError(
            f"{label} is a scipy sparse {type(X).__name__}; sparse input is not supported by "
            "the reducers (activations are dense): pass X.toarray()."
        )
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{label} could not be read as an array of shape (n_samples, {columns}) ({error}); "
            "pass a numpy array, a torch tensor or a list of rows of equal length."
        ) from error
    if array.dtype == object:
        array = _numbers_from_objects(array, label)
    if array.dtype.kind == "c":
        raise ValueError(_complex_message(label, array.dtype))
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"{label} must hold real numbers, got dtype {array.dtype}; convert it with "
            "X.astype(numpy.float32)."
        )
    dtype = np.float64 if array.dtype.kind == "f" and array.dtype.itemsize >= 8 else np.float32
    return float_tensor_view(np.ascontiguousarray(array, dtype=dtype), dtype=dtype)


def _numbers_from_objects(array: np.ndarray, label: str) -> np.ndarray:
    """An object array of numbers as float64 (as scikit-learn reads one); else TypeError."""
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError) as error:
        # The conversion's own message ("float() argument must be a string or a real
        # number, not 'dict'") names the offending type; keep it.
        raise TypeError(
            f"{label} has dtype object and holds something that is not a number: {error}. "
            "Pass numbers only, e.g. numpy.asarray(X, dtype=numpy.float32)."
        ) from error


def _complex_message(label: str, dtype: object) -> str:
    return (
        f"{label} holds complex numbers (dtype {dtype}). Complex data not supported: the "
        "reducers factorise real activations; pass X.real if the imaginary part is noise."
    )


def _check_shape(shape: tuple[int, ...], label: str, columns: str) -> None:
    if len(shape) != 2:
        if len(shape) == 1 and columns == "n_features":
            fix = "X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample"
        elif columns == "n_features":
            fix = "flatten feature maps (n, h, w, c) with X.reshape(-1, c)"
        else:
            fix = "pass the output of transform()"
        raise ValueError(
            f"{label} must be 2-D (n_samples, {columns}), got shape {shape}. "
            f"Reshape your data: {fix}."
        )
    n_rows, n_columns = shape
    if n_rows == 0:
        raise ValueError(
            f"{label} is empty: 0 sample(s) (shape={shape}) while a minimum of 1 is required; "
            "it needs at least one row."
        )
    if n_columns == 0:
        what = "feature(s)" if columns == "n_features" else "column(s)"
        raise ValueError(
            f"{label} is empty: 0 {what} (shape={shape}) while a minimum of 1 is required; "
            "it needs at least one column."
        )
