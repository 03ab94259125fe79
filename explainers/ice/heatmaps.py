"""Concept heatmaps: where a concept is on an image, and how it is shown.

The rule (DESIGN.md "The method, exactly"; the paper's section on concept
prototypes): the heatmap of concept k on an image is its h×w score map
S[:, :, k], min-max normalised per image to [0, 1] and upsampled bilinearly to
the image size; pixels above 0.5 are the concept and the rest of the image is
dimmed.

A map with no contrast cannot be min-max normalised. DESIGN.md's rule: a constant
positive map is the concept everywhere (heatmap of ones: a k-means cluster that
covers the whole image), an all-zero map is the concept nowhere (heatmap of zeros),
and an image whose map is blank is never a prototype or a target (see
:func:`blank_maps`; :mod:`explainers.ice.prototypes` and :mod:`explainers.ice.stimuli`
apply it).

PCA scores are signed, and DESIGN.md shifts a PCA map by its minimum first: the
image's weakest location becomes the zero point. After that shift any PCA map
without contrast is all zero, whatever its level, so a constant PCA map highlights
nothing and is blank. (Its level says how much of the component the whole image
has relative to the class mean, not where the concept is; there is no region to
show a participant.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

DEFAULT_THRESHOLD = 0.5
# Spans this many float32 epsilons (relative to the map's magnitude) or smaller
# are rounding noise, not signal: such a map is treated as constant.
_FLAT_RELATIVE_SPAN = 8 * float(np.finfo(np.float32).eps)
# Heatmaps are checked to lie in [0, 1] up to this slack (bilinear rounding).
_RANGE_SLACK = 1e-4


def concept_heatmap(
    score_map: np.ndarray | torch.Tensor,
    *,
    shift_negative: bool,
    size: tuple[int, int] | None = None,
    flat_as_blank: bool = False,
) -> np.ndarray:
    """Normalised heatmap of one concept on one image.

    Parameters
    ----------
    score_map : array of shape (h, w)
        The concept's score map S[:, :, k] on the image (numpy or torch, any device).
    shift_negative : bool
        Whether the scores may be negative (PCA). If True the map is first shifted
        by its minimum, as DESIGN.md states for PCA. Min-max normalisation
        subtracts the minimum anyway, so for a map with contrast the shift does not
        change the result; it decides what a map without contrast shows (nothing,
        with the shift). With ``shift_negative=False`` (NMF, k-means, whose scores
        are >= 0) a negative value is an error, because it means PCA scores were
        passed without saying so.
    size : (H, W), optional
        Upsample the normalised map bilinearly (``align_corners=False``) to this
        size, usually the image size. Interpolation keeps values in [0, 1]; the
        result is not re-normalised, so a one-cell peak stays a smooth bump.
    flat_as_blank : bool, default False
        Give every map without contrast all zeros, as ICE Lab did before draw rule
        "v2". Only for regenerating stimulus sets built under draw rule "v1"; it is
        not the method (a k-means map covering the image would highlight nothing).

    Returns
    -------
    heatmap : float32 array of shape (h, w), or (H, W) when ``size`` is given
        Values in [0, 1]. A map without contrast gives all ones when it is positive
        (``shift_negative=False``) and all zeros when it is zero or a PCA map
        (``shift_negative=True``): see the module docstring.
    """
    maps = _as_float_tensor(score_map, name="score_map")
    if maps.ndim != 2:
        raise ValueError(
            f"score_map has shape {tuple(maps.shape)}; expected one map of shape (h, w)."
        )
    return _heatmaps(
        maps[None], shift_negative=shift_negative, size=size, flat_as_blank=flat_as_blank
    )[0]


def concept_heatmaps(
    score_maps: np.ndarray | torch.Tensor,
    *,
    shift_negative: bool,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """:func:`concept_heatmap` for a batch: maps (n, h, w) -> (n, H, W), each normalised on its own."""
    maps = _as_float_tensor(score_maps, name="score_maps")
    if maps.ndim != 3:
        raise ValueError(f"score_maps has shape {tuple(maps.shape)}; expected (n, h, w).")
    return _heatmaps(maps, shift_negative=shift_negative, size=size)


def has_contrast(score_maps: np.ndarray | torch.Tensor) -> np.ndarray:
    """Whether each map varies at all: maps (..., h, w) -> bool (...).

    A span of a few float32 epsilons relative to the map's magnitude is rounding
    noise, not contrast.
    """
    maps = _as_float_tensor(score_maps, name="score_maps")
    if maps.ndim < 2:
        raise ValueError(f"score_maps has shape {tuple(maps.shape)}; expected (..., h, w).")
    low, high = maps.amin(dim=(-2, -1)), maps.amax(dim=(-2, -1))
    return (~_flat(low, high)).cpu().numpy()


def blank_maps(concept_maps: np.ndarray | torch.Tensor, *, shift_negative: bool) -> np.ndarray:
    """Which concept maps highlight nothing: maps (n, h, w, n_components) -> bool (n, n_components).

    True exactly where :func:`concept_heatmap` of ``concept_maps[i, :, :, k]`` is all
    zeros: an all-zero map, or (``shift_negative=True``, PCA) any map without
    contrast. Such an image is never a prototype or a target of concept k.
    """
    maps = _as_float_tensor(concept_maps, name="concept_maps")
    if maps.ndim != 4:
        raise ValueError(
            f"concept_maps has shape {tuple(maps.shape)}; expected (n, h, w, n_components)."
        )
    low, high = maps.amin(dim=(1, 2)), maps.amax(dim=(1, 2))
    if not shift_negative:
        _check_non_negative(low)
    blank = _flat(low, high) & (
        torch.ones_like(high, dtype=torch.bool) if shift_negative else high <= 0
    )
    return blank.cpu().numpy()


def resize_heatmap(heatmap: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resample a heatmap (h, w) in [0, 1] to ``size`` = (H, W); float32 (H, W)."""
    maps = _as_float_tensor(heatmap, name="heatmap")
    if maps.ndim != 2:
        raise ValueError(f"heatmap has shape {tuple(maps.shape)}; expected (h, w).")
    return _resize(maps[None], _check_size(size))[0].cpu().numpy()


def concept_mask(
    heatmap: np.ndarray | torch.Tensor, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Boolean mask of the concept: heatmap values strictly above ``threshold``.

    ``heatmap`` is any array of normalised heatmaps, e.g. (H, W) or (n, H, W);
    the mask has the same shape.
    """
    _check_unit_interval(threshold, name="threshold")
    values = _as_float_tensor(heatmap, name="heatmap").cpu().numpy()
    return values > threshold


def highlight_concept(
    image: Any,
    heatmap: np.ndarray | torch.Tensor,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    dim: float = 0.3,
    contour: bool = True,
    contour_color: tuple[int, int, int] = (255, 215, 0),
    contour_width: int | None = None,
) -> Image.Image:
    """The image with the concept's region kept and everything else dimmed.

    Parameters
    ----------
    image : tensor (3, H, W), array (H, W, 3) or PIL image
        A displayable image: float values in [0, 1] or uint8 (not model-normalised).
    heatmap : array of shape (H, W) or (h, w)
        Normalised heatmap in [0, 1] (from :func:`concept_heatmap`); a smaller map
        is upsampled bilinearly to the image size, exactly as ``size=`` would.
    threshold : float, default 0.5
        Pixels with heatmap > threshold are the concept.
    dim : float, default 0.3
        Pixels outside the concept are multiplied by this factor.
    contour : bool, default True
        Draw a line just outside the concept's region; pixels inside stay untouched.
    contour_color : (r, g, b)
        Line colour (default gold, visible on both dimmed and bright areas).
    contour_width : int, optional
        Line width in pixels; default 1 for images under 160 px, else 2.

    Returns
    -------
    PIL.Image.Image
        RGB image of size (W, H).
    """
    _check_unit_interval(dim, name="dim")
    pixels = image_to_uint8(image)
    height, width = pixels.shape[:2]
    heat = _as_float_tensor(heatmap, name="heatmap")
    if heat.ndim != 2:
        raise ValueError(f"heatmap has shape {tuple(heat.shape)}; expected (h, w).")
    _check_heatmap_range(heat)
    if tuple(heat.shape) != (height, width):
        heat = _resize(heat[None], (height, width))[0]
    mask = concept_mask(heat, threshold)
    shown = pixels.astype(np.float32)
    shown[~mask] *= dim
    shown = np.clip(np.rint(shown), 0, 255).astype(np.uint8)
    if contour:
        line_width = (
            contour_width if contour_width is not None else (1 if max(height, width) < 160 else 2)
        )
        shown[_outer_ring(mask, line_width)] = np.asarray(contour_color, dtype=np.uint8)
    return Image.fromarray(shown, mode="RGB")


def image_to_uint8(image: Any) -> np.ndarray:
    """A displayable image as a uint8 RGB array of shape (H, W, 3).

    Accepts a PIL image, a torch tensor (3, H, W) or (1, H, W), or a numpy array
    (H, W, 3), (H, W, 1) or (H, W); float values must lie in [0, 1].
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(
                f"image tensor has shape {tuple(image.shape)}; expected (3, H, W) or (1, H, W)."
            )
        array = image.detach().cpu().permute(1, 2, 0).numpy()
    else:
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3 or array.shape[2] not in (1, 3):
            raise ValueError(
                f"image array has shape {array.shape}; expected (H, W, 3), (H, W, 1) or (H, W)."
            )
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return _to_uint8(array)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    values = array.astype(np.float32)
    if (
        not np.isfinite(values).all()
        or values.min() < -_RANGE_SLACK
        or values.max() > 1 + _RANGE_SLACK
    ):
        raise ValueError(
            "image has float values outside [0, 1] (or NaN); pass an unnormalised image "
            "(undo the ImageNet mean/std normalisation) or a uint8 image."
        )
    return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)


def _heatmaps(
    maps: torch.Tensor,
    *,
    shift_negative: bool,
    size: tuple[int, int] | None,
    flat_as_blank: bool = False,
) -> np.ndarray:
    low = maps.amin(dim=(-2, -1), keepdim=True)
    high = maps.amax(dim=(-2, -1), keepdim=True)
    if not shift_negative:
        _check_non_negative(low)
    # Contrast is judged on the map as given: after the PCA shift every span would look
    # large relative to the shifted maximum, and rounding noise would become a concept.
    flat = _flat(low, high)
    # DESIGN.md: for PCA shift by the minimum first, so a flat PCA map is all zero; a flat
    # non-negative map is the concept everywhere when positive, nowhere when zero.
    level = torch.zeros_like(high) if shift_negative or flat_as_blank else (high > 0).float()
    span = torch.where(flat, 1.0, high - low)
    normalised = torch.where(flat, level.expand_as(maps), (maps - low) / span)
    if size is not None:
        normalised = _resize(normalised, _check_size(size))
    return normalised.cpu().numpy().astype(np.float32, copy=False)


def _flat(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Maps whose span (``high - low``, per map) is rounding noise relative to their magnitude."""
    return (high - low) <= _FLAT_RELATIVE_SPAN * torch.maximum(low.abs(), high.abs())


def _check_non_negative(low: torch.Tensor) -> None:
    if bool((low < 0).any()):
        raise ValueError(
            f"score map has negative values (min {float(low.min()):.4g}); scores from PCA can be negative: "
            "pass shift_negative=True for them."
        )


def _resize(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resampling of maps (n, h, w) -> (n, H, W), clipped to [0, 1] against rounding."""
    resized = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return resized.clamp(0.0, 1.0)


def _outer_ring(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels outside ``mask`` within ``width`` pixels of it (8-connected)."""
    if width < 1:
        raise ValueError(f"contour_width={width!r}; pass a positive number of pixels.")
    if not mask.any():
        return np.zeros_like(mask)
    grown = ndimage.binary_dilation(mask, structure=np.ones((3, 3), dtype=bool), iterations=width)
    return grown & ~mask


def _as_float_tensor(values: Any, *, name: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        tensor = values.detach().to(torch.float32)
    else:
        try:
            tensor = torch.as_tensor(np.asarray(values, dtype=np.float32))
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name} must be a numeric numpy array or torch tensor, got {type(values).__name__}."
            ) from error
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty; pass a non-empty map.")
    # numpy's check is ~100x cheaper than torch's on small CPU arrays (no thread-pool dispatch).
    finite = (
        np.isfinite(tensor.numpy()).all()
        if tensor.device.type == "cpu"
        else torch.isfinite(tensor).all()
    )
    if not bool(finite):
        raise ValueError(f"{name} contains NaN or infinite values; check the reducer's transform.")
    return tensor


def _check_size(size: Any) -> tuple[int, int]:
    if (
        not isinstance(size, tuple | list)
        or len(size) != 2
        or not all(
            isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0 for s in size
        )
    ):
        raise ValueError(f"size={size!r}; pass (H, W) as two positive integers.")
    return int(size[0]), int(size[1])


def _check_unit_interval(value: float, *, name: str) -> None:
    if not isinstance(value, int | float | np.floating) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name}={value!r}; pass a number between 0 and 1.")


def _check_heatmap_range(heat: torch.Tensor) -> None:
    if float(heat.min()) < -_RANGE_SLACK or float(heat.max()) > 1 + _RANGE_SLACK:
        raise ValueError(
            "heatmap values lie outside [0, 1]; pass the score map through concept_heatmap first."
        )
