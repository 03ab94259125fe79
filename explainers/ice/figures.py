"""Figures of concept explanations, drawn with Pillow.

- :func:`render_prototype_row`: one concept as a row of highlighted prototypes
  (what a study participant sees as a candidate).
- :func:`render_prototype_grid`: one such row per concept, labelled.
- :func:`render_local_explanation`: the paper's Figure 1 for one class: per
  concept the explained image with the concept highlighted, its prototypes and
  ``score x weight = contribution``; below, the decomposition of the logit into
  concept contributions, residual and bias.

Text uses Pillow's built-in font, so figures render the same on every machine.
That font has no multiplication sign, hence the ASCII ``x``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .heatmaps import (
    DEFAULT_THRESHOLD,
    concept_heatmap,
    highlight_concept,
    image_to_uint8,
    resize_heatmap,
)

Gallery = Mapping[int, tuple[Sequence[Any], Any]] | Sequence[tuple[Sequence[Any], Any]]

_BACKGROUND = (255, 255, 255)
_INK = (33, 33, 33)
_MUTED = (110, 110, 110)
_POSITIVE = (20, 110, 50)
_NEGATIVE = (170, 40, 40)
_RULE = (210, 210, 210)
_MARGIN = 16
_COLUMN_GAP = 20
_ROW_GAP = 12


def render_prototype_row(
    images: Sequence[Any] | np.ndarray | torch.Tensor,
    heatmaps: Sequence[Any] | np.ndarray | torch.Tensor,
    *,
    tile: int = 96,
    gap: int = 4,
    threshold: float = DEFAULT_THRESHOLD,
    dim: float = 0.3,
) -> Image.Image:
    """A row of prototype images, each with the concept highlighted.

    Parameters
    ----------
    images : sequence of k images, or array (k, 3, H, W) / (k, H, W, 3)
        Displayable images (see :func:`explainers.ice.heatmaps.image_to_uint8`).
    heatmaps : sequence of k heatmaps, or array (k, h, w)
        Normalised heatmaps in [0, 1] of the concept on each image, at any size.
    tile : int, default 96
        Side of each (square) tile in pixels; images are resized to it.
    gap : int, default 4
        White space between tiles in pixels.

    Returns
    -------
    PIL.Image.Image
        RGB image of size (k * tile + (k - 1) * gap, tile).
    """
    if len(images) == 0 or len(images) != len(heatmaps):
        raise ValueError(
            f"got {len(images)} images and {len(heatmaps)} heatmaps; "
            "pass one heatmap per image (at least one)."
        )
    if tile < 8 or gap < 0:
        raise ValueError(f"tile={tile!r}, gap={gap!r}; pass tile >= 8 and gap >= 0 pixels.")
    count = len(images)
    row = Image.new("RGB", (count * tile + (count - 1) * gap, tile), _BACKGROUND)
    for position in range(count):
        tile_image = _highlighted_tile(images[position], heatmaps[position], tile, threshold, dim)
        row.paste(tile_image, (position * (tile + gap), 0))
    return row


def render_prototype_grid(
    gallery: Gallery,
    *,
    concepts: Sequence[int] | None = None,
    tile: int = 96,
    gap: int = 4,
) -> Image.Image:
    """Prototypes per concept: one labelled row per concept.

    Parameters
    ----------
    gallery : mapping or sequence ``concept -> (images, heatmaps)``
        As returned by :func:`explainers.ice.prototypes.prototype_gallery`.
    concepts : sequence of int, optional
        Which concepts, in which order; default all, ascending.
    """
    chosen = list(concepts) if concepts is not None else _gallery_keys(gallery)
    if not chosen:
        raise ValueError("no concepts to draw; pass a non-empty gallery or concepts list.")
    missing = [concept for concept in chosen if _gallery_entry(gallery, concept) is None]
    if missing:
        raise ValueError(
            f"concepts {missing} have no prototypes in the gallery; pass concepts it holds."
        )
    font = _font(14)
    rows = [
        render_prototype_row(*_gallery_entry(gallery, concept), tile=tile, gap=gap)
        for concept in chosen
    ]
    labels = [f"Concept {concept}" for concept in chosen]
    label_width = max(_text_width(font, label) for label in labels)
    width = 2 * _MARGIN + label_width + _COLUMN_GAP + max(row.width for row in rows)
    height = 2 * _MARGIN + sum(row.height for row in rows) + _ROW_GAP * (len(rows) - 1)
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    top = _MARGIN
    for label, row in zip(labels, rows, strict=True):
        draw.text((_MARGIN, top + row.height // 2), label, fill=_INK, font=font, anchor="lm")
        canvas.paste(row, (_MARGIN + label_width + _COLUMN_GAP, top))
        top += row.height + _ROW_GAP
    return canvas


def render_local_explanation(
    image: Any,
    explanation: Any,
    class_index: int,
    concept_maps: np.ndarray | torch.Tensor,
    prototypes: Gallery | None,
    *,
    top_k: int = 5,
    class_name: str | None = None,
    shift_negative: bool | None = None,
    tile: int = 96,
) -> Image.Image:
    """Figure 1 of the paper for one image and one class.

    Parameters
    ----------
    image : tensor (3, H, W), array (H, W, 3) or PIL image
        The explained image, displayable (not model-normalised).
    explanation : LocalExplanation-like
        Has ``logits`` (n_classes,), ``concept_scores`` (n_components,),
        ``weights`` and ``contributions`` (n_components, n_classes),
        ``residual`` and ``bias`` (n_classes,) and ``is_estimate`` (bool).
    class_index : int
        The class whose logit is explained.
    concept_maps : array of shape (h, w, n_components)
        Concept score maps of this image (a leading axis of size 1 is allowed).
    prototypes : mapping or sequence ``concept -> (images, heatmaps)``, or None
        Each concept's prototypes (see ``prototype_gallery``); None or a missing
        concept leaves the prototype column empty.
    top_k : int, default 5
        How many concepts to show: those with the largest (signed) contribution
        to the class, i.e. the strongest evidence for it; ties by lower index.
    class_name : str, optional
        Shown in the title instead of the class index.
    shift_negative : bool, optional
        Passed to ``concept_heatmap``; default: True when the maps hold negative
        scores (PCA).
    tile : int, default 96
        Side of image tiles in pixels.

    Returns
    -------
    PIL.Image.Image
        RGB figure; concepts shown are ``min(top_k, n_components)``.
    """
    parts = _explanation_parts(explanation, class_index)
    maps = _image_concept_maps(concept_maps, parts["scores"].shape[0])
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k={top_k!r}; pass a positive number of concepts to show.")
    shift = bool((maps < 0).any()) if shift_negative is None else shift_negative
    shown = np.argsort(-parts["contributions"], kind="stable")[:top_k].tolist()
    rows = [_concept_row(image, maps, concept, parts, prototypes, shift, tile) for concept in shown]
    return _compose_figure(rows, parts, class_index, class_name, len(shown), tile)


def _concept_row(
    image: Any,
    maps: np.ndarray,
    concept: int,
    parts: dict[str, Any],
    prototypes: Gallery | None,
    shift: bool,
    tile: int,
) -> dict[str, Any]:
    heatmap = concept_heatmap(maps[:, :, concept], shift_negative=shift)
    entry = _gallery_entry(prototypes, concept) if prototypes is not None else None
    score, weight, contribution = (
        parts[key][concept] for key in ("scores", "weights", "contributions")
    )
    return {
        "label": f"Concept {concept}",
        "area": _highlighted_tile(image, heatmap, tile, DEFAULT_THRESHOLD, 0.3),
        "prototypes": render_prototype_row(*entry, tile=tile) if entry is not None else None,
        "equation": f"{score:.3f} x {weight:.3f} = {contribution:.3f}",
        "contribution": contribution,
    }


def _compose_figure(
    rows: list[dict[str, Any]],
    parts: dict[str, Any],
    class_index: int,
    class_name: str | None,
    n_shown: int,
    tile: int,
) -> Image.Image:
    title_font, font, small = _font(18), _font(14), _font(12)
    name = class_name if class_name is not None else f"class {class_index}"
    headers = [
        "Concept",
        "On this image",
        "Prototypes (class images)",
        "Score x weight = contribution",
    ]
    footer = _footer_lines(parts, n_shown)
    label_w = max([_text_width(font, headers[0])] + [_text_width(font, r["label"]) for r in rows])
    proto_w = max(
        [_text_width(font, headers[2])] + [r["prototypes"].width for r in rows if r["prototypes"]]
    )
    eq_w = max([_text_width(font, headers[3])] + [_text_width(font, r["equation"]) for r in rows])
    columns = _column_lefts([label_w, max(tile, _text_width(font, headers[1])), proto_w, eq_w])
    width = columns[-1] + eq_w + _MARGIN
    header_top = _MARGIN + 30
    rows_top = header_top + 26
    footer_top = rows_top + len(rows) * (tile + _ROW_GAP) + 8
    height = footer_top + 22 * len(footer) + _MARGIN
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    title = f"Why the CNN scores '{name}': logit {parts['logit']:.3f}"
    draw.text((_MARGIN, _MARGIN), title, fill=_INK, font=title_font)
    for left, header in zip(columns, headers, strict=True):
        draw.text((left, header_top), header, fill=_MUTED, font=small)
    draw.line([(_MARGIN, rows_top - 6), (width - _MARGIN, rows_top - 6)], fill=_RULE)
    for position, row in enumerate(rows):
        _draw_row(canvas, draw, row, columns, rows_top + position * (tile + _ROW_GAP), tile, font)
    draw.line([(_MARGIN, footer_top - 6), (width - _MARGIN, footer_top - 6)], fill=_RULE)
    for position, (text, color) in enumerate(footer):
        draw.text((_MARGIN, footer_top + 22 * position), text, fill=color, font=font)
    return canvas


def _draw_row(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    row: dict[str, Any],
    columns: list[int],
    top: int,
    tile: int,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    middle = top + tile // 2
    draw.text((columns[0], middle), row["label"], fill=_INK, font=font, anchor="lm")
    canvas.paste(row["area"], (columns[1], top))
    if row["prototypes"] is not None:
        canvas.paste(row["prototypes"], (columns[2], top))
    else:
        draw.text((columns[2], middle), "(no prototypes)", fill=_MUTED, font=font, anchor="lm")
    color = _POSITIVE if row["contribution"] >= 0 else _NEGATIVE
    draw.text((columns[3], middle), row["equation"], fill=color, font=font, anchor="lm")


def _footer_lines(parts: dict[str, Any], n_shown: int) -> list[tuple[str, tuple[int, int, int]]]:
    n_components = parts["scores"].shape[0]
    concept_sum = float(parts["contributions"].sum())
    total = concept_sum + parts["residual"] + parts["bias"]
    lines = [
        (
            f"Sum of concept contributions (all {n_components}; {n_shown} shown): {concept_sum:.3f}",
            _INK,
        ),
        (f"Residual (what the concepts do not capture): {parts['residual']:.3f}", _INK),
        (f"Bias: {parts['bias']:.3f}", _INK),
        (
            f"Logit: {concept_sum:.3f} + {parts['residual']:.3f} + {parts['bias']:.3f} = {total:.3f}"
            f"   (CNN: {parts['logit']:.3f})",
            _INK,
        ),
    ]
    if parts["is_estimate"]:
        lines.append(
            ("(estimated weights: finite differences averaged over the class's images)", _NEGATIVE)
        )
    return lines


def _explanation_parts(explanation: Any, class_index: int) -> dict[str, Any]:
    try:
        logits = _vector(explanation.logits)
        scores = _vector(explanation.concept_scores)
        weights = _matrix(explanation.weights)
        contributions = _matrix(explanation.contributions)
        residual, bias = _vector(explanation.residual), _vector(explanation.bias)
        is_estimate = bool(explanation.is_estimate)
    except AttributeError as error:
        raise TypeError(
            "explanation must have logits, concept_scores, weights, contributions, residual, bias "
            f"and is_estimate (a LocalExplanation): {error}"
        ) from error
    n_classes = logits.shape[0]
    is_index = isinstance(class_index, int | np.integer) and not isinstance(class_index, bool)
    if not is_index or not 0 <= class_index < n_classes:
        raise ValueError(
            f"class_index={class_index!r}; pass an index between 0 and {n_classes - 1}."
        )
    expected = (scores.shape[0], n_classes)
    if weights.shape != expected or contributions.shape != expected:
        raise ValueError(
            f"explanation weights {weights.shape} / contributions {contributions.shape} do not match "
            f"(n_components, n_classes) = {expected}."
        )
    return {
        "logit": float(logits[class_index]),
        "scores": scores,
        "weights": weights[:, class_index],
        "contributions": contributions[:, class_index],
        "residual": float(residual[class_index]),
        "bias": float(bias[class_index]),
        "is_estimate": is_estimate,
    }


def _image_concept_maps(concept_maps: Any, n_components: int) -> np.ndarray:
    maps = _numpy(concept_maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3 or maps.shape[-1] != n_components:
        raise ValueError(
            f"concept_maps has shape {maps.shape}; expected (h, w, n_components) "
            f"with n_components={n_components}."
        )
    return maps


def _highlighted_tile(
    image: Any, heatmap: Any, tile: int, threshold: float, dim: float
) -> Image.Image:
    resized = Image.fromarray(image_to_uint8(image)).resize((tile, tile), Image.Resampling.BILINEAR)
    return highlight_concept(
        resized, resize_heatmap(heatmap, (tile, tile)), threshold=threshold, dim=dim
    )


def _gallery_keys(gallery: Gallery) -> list[int]:
    return sorted(gallery) if isinstance(gallery, Mapping) else list(range(len(gallery)))


def _gallery_entry(gallery: Gallery, concept: int) -> tuple[Sequence[Any], Any] | None:
    if isinstance(gallery, Mapping):
        return gallery.get(concept)
    return gallery[concept] if 0 <= concept < len(gallery) else None


def _column_lefts(widths: list[int]) -> list[int]:
    lefts, left = [], _MARGIN
    for width in widths:
        lefts.append(left)
        left += width + _COLUMN_GAP
    return lefts


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_width(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> int:
    return int(np.ceil(font.getlength(text)))


def _numpy(values: Any) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


def _vector(values: Any) -> np.ndarray:
    array = _numpy(values)
    if array.ndim != 1:
        raise ValueError(f"expected a vector in the explanation, got shape {array.shape}.")
    return array


def _matrix(values: Any) -> np.ndarray:
    array = _numpy(values)
    if array.ndim != 2:
        raise ValueError(
            f"expected a (n_components, n_classes) matrix in the explanation, got shape {array.shape}."
        )
    return array
