"""Drawing one synthetic image and its part-label map.

An image is: a cluttered background (a two-colour gradient, smooth blotches and,
sometimes, a faint wave texture), a few distractors (plain ellipses, rectangles, blobs
and bars that are not parts), then the class's parts at random positions, sizes and
rotations, each with a brightness ramp across it, and finally pixel noise everywhere.
Parts are placed in non-overlapping circles, so each keeps all of its pixels and its
mask is the exact set of pixels it covers.

Each random stream (layout, background, distractors, noise, and one per part) is its
own child of the image's seed, so leaving a part out (``hidden_parts``) changes only
that part's pixels: the basis of the mask tests and of part-ablation experiments.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .canvas import PartPen, ellipse_points, hsv, random_colour
from .parts import PART_IDS, PARTS_BY_NAME

REFERENCE_SIZE = 96  # sizes below are tuned for 96 px and scale with the image
_PART_RADIUS = (0.14, 0.2)  # as a fraction of the image side
_DISTRACTOR_RADIUS = (0.045, 0.1)
_GAP = 0.02
_CANDIDATES = 64


@dataclass(frozen=True)
class Placement:
    """Where a part (or distractor) goes: centre (x, y) and radius in pixels, rotation in degrees."""

    x: float
    y: float
    radius: float
    angle: float


@dataclass(frozen=True)
class RenderedImage:
    """One rendered sample.

    Attributes
    ----------
    image : numpy.ndarray
        RGB pixels, shape (size, size, 3), uint8.
    labels : numpy.ndarray
        Part-label map, shape (size, size), uint8: 0 where no part is, else the part's id
        (:data:`~explainers.ice.synthetic.parts.PART_IDS`).
    parts : tuple of str
        The parts drawn, in drawing order.
    placements : tuple of Placement
        Where each of ``parts`` was drawn.
    """

    image: np.ndarray
    labels: np.ndarray
    parts: tuple[str, ...]
    placements: tuple[Placement, ...]

    def part_masks(self) -> dict[str, np.ndarray]:
        """Return ``{part: bool array (size, size)}`` for every part drawn."""
        return {name: self.labels == PART_IDS[name] for name in self.parts}


def render_image(
    parts: Sequence[str],
    *,
    size: int = REFERENCE_SIZE,
    seed: int | np.random.SeedSequence = 0,
    hidden_parts: Iterable[str] = (),
) -> RenderedImage:
    """Draw an image showing ``parts`` among clutter and distractors.

    Parameters
    ----------
    parts : sequence of str
        Part names (1 to 4, distinct) from the vocabulary, e.g. a class's parts.
    size : int
        Side of the square image in pixels.
    seed : int or numpy.random.SeedSequence
        Everything random in the image derives from it.
    hidden_parts : iterable of str
        Parts to leave out while every other pixel stays exactly as with them.

    Returns
    -------
    RenderedImage
        Pixels (size, size, 3), label map (size, size) and the parts drawn.
    """
    parts = tuple(parts)
    unknown = [name for name in parts if name not in PARTS_BY_NAME]
    if unknown or not 1 <= len(set(parts)) == len(parts) <= 4:
        raise ValueError(f"parts={parts!r} must be 1-4 distinct names from the part vocabulary.")
    layout_ss, background_ss, distractor_ss, noise_ss, *part_ss = _child_seeds(seed, 4 + len(parts))
    placements = layout_parts(np.random.default_rng(layout_ss), len(parts), size)
    canvas = Image.fromarray(_background(np.random.default_rng(background_ss), size))
    labels = Image.new("L", (size, size), 0)
    image_draw, label_draw = ImageDraw.Draw(canvas), ImageDraw.Draw(labels)
    _draw_distractors(image_draw, np.random.default_rng(distractor_ss), size, placements)
    hidden = set(hidden_parts)
    shading: list[tuple[str, Placement, float, float]] = []
    for name, placement, child in zip(parts, placements, part_ss, strict=True):
        if name in hidden:
            continue
        rng = np.random.default_rng(child)
        angle = rng.uniform(-1.0, 1.0) * PARTS_BY_NAME[name].max_rotation
        pen = PartPen(
            image_draw,
            label_draw,
            PART_IDS[name],
            (placement.x, placement.y),
            placement.radius,
            angle,
        )
        PARTS_BY_NAME[name].draw(pen, rng)
        shading.append((name, placement, rng.uniform(0.0, 2 * math.pi), rng.uniform(0.0, 0.3)))
    label_array = np.asarray(labels, dtype=np.uint8).copy()
    pixels = np.asarray(canvas, dtype=np.float32).copy()
    for name, placement, direction, strength in shading:
        _apply_ramp(pixels, label_array == PART_IDS[name], placement, direction, strength)
    noise_rng = np.random.default_rng(noise_ss)
    sigma = np.float32(noise_rng.uniform(1.5, 4.0))
    pixels += sigma * noise_rng.standard_normal(pixels.shape, dtype=np.float32)
    image = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    drawn = tuple(name for name in parts if name not in hidden)
    kept = tuple(p for name, p in zip(parts, placements, strict=True) if name not in hidden)
    return RenderedImage(image=image, labels=label_array, parts=drawn, placements=kept)


def _child_seeds(seed: int | np.random.SeedSequence, n: int) -> list[np.random.SeedSequence]:
    """The first ``n`` children of ``seed``, the same on every call.

    ``SeedSequence.spawn`` would do, but it advances a counter on the object, so a
    caller passing the same SeedSequence twice would get a different image.
    """
    if isinstance(seed, np.random.SeedSequence):
        entropy, key = seed.entropy, tuple(seed.spawn_key)
    else:
        entropy, key = seed, ()
    return [np.random.SeedSequence(entropy, spawn_key=(*key, child)) for child in range(n)]


def layout_parts(rng: np.random.Generator, n_parts: int, size: int) -> tuple[Placement, ...]:
    """Place ``n_parts`` discs inside the image without overlap (rotation is chosen per part later).

    Tries random positions; if a disc finds no room, the whole layout restarts with
    smaller discs, so it always ends (discs shrink geometrically).
    """
    scale = 1.0
    while True:
        radii = np.sort(size * scale * rng.uniform(*_PART_RADIUS, n_parts))[::-1]
        placed: list[Placement] = []
        for radius in radii:
            spot = _free_spot(rng, radius, size, placed, gap=_GAP * size)
            if spot is None:
                break
            placed.append(Placement(spot[0], spot[1], float(radius), 0.0))
        if len(placed) == n_parts:
            order = rng.permutation(n_parts)  # so the biggest disc is not always the first part
            return tuple(placed[index] for index in order)
        scale *= 0.93


def _free_spot(
    rng: np.random.Generator, radius: float, size: int, taken: Sequence[Placement], gap: float
) -> tuple[float, float] | None:
    low, high = radius + 1.0, size - radius - 1.0
    if high <= low:
        return None
    candidates = rng.uniform(low, high, (_CANDIDATES, 2))
    free = np.ones(_CANDIDATES, dtype=bool)
    for other in taken:
        distance = np.hypot(candidates[:, 0] - other.x, candidates[:, 1] - other.y)
        free &= distance >= radius + other.radius + gap
    if not free.any():
        return None
    x, y = candidates[int(np.argmax(free))]
    return float(x), float(y)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted two-colour gradient with smooth blotches and sometimes faint waves, shape (size, size, 3) uint8."""
    hue = rng.uniform(0, 1)
    start = np.array(hsv(hue, rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.9)), dtype=np.float32)
    end = np.array(
        hsv(hue + rng.uniform(-0.25, 0.25), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.9)),
        dtype=np.float32,
    )
    direction = rng.uniform(0, 2 * math.pi)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    ramp = coords[None, :] * math.cos(direction) + coords[:, None] * math.sin(direction) + 0.5
    pixels = start + np.clip(ramp, 0, 1)[..., None] * (end - start)
    pixels += _smooth_noise(
        rng, size, cells=int(rng.integers(3, 7)), amplitude=rng.uniform(8.0, 22.0)
    )
    if rng.random() < 0.4:
        period = size * rng.uniform(0.08, 0.2)
        angle = rng.uniform(0, math.pi)
        phase = coords[None, :] * math.cos(angle) + coords[:, None] * math.sin(angle)
        pixels += (rng.uniform(4.0, 10.0) * np.sin(2 * math.pi * size * phase / period))[..., None]
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, amplitude: float) -> np.ndarray:
    """Bilinearly upsampled random grid: low-frequency colour blotches, shape (size, size, 3)."""
    grid = rng.normal(0.0, amplitude, (3, cells + 1, cells + 1)).astype(np.float32)
    # Bilinear upsampling is separable: one (size, cells + 1) interpolation matrix per axis.
    position = np.linspace(0.0, cells, size, dtype=np.float32)
    index = np.minimum(position.astype(np.int64), cells - 1)
    fraction = position - index
    weights = np.zeros((size, cells + 1), dtype=np.float32)
    weights[np.arange(size), index] = 1.0 - fraction
    weights[np.arange(size), index + 1] = fraction
    return np.einsum("yi,cij,xj->yxc", weights, grid, weights, optimize=True)


def _draw_distractors(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int, parts: Sequence[Placement]
) -> None:
    """Draw 2-5 plain shapes in the space the parts leave free; they go on the image only, not the label map."""
    taken = list(parts)
    for _ in range(int(rng.integers(2, 6))):
        radius = size * rng.uniform(*_DISTRACTOR_RADIUS)
        spot = _free_spot(rng, radius, size, taken, gap=0.0)
        kind = int(rng.integers(4))
        colour = random_colour(rng, saturation=(0.0, 1.0), value=(0.15, 1.0))
        angle = rng.uniform(-180, 180)
        if spot is None:
            continue
        pen = PartPen(draw, None, 0, spot, radius, angle)
        if kind == 0:
            pen.polygon(ellipse_points(0, 0, 1.0, rng.uniform(0.4, 1.0)), colour)
        elif kind == 1:
            half = rng.uniform(0.35, 0.7)
            pen.rectangle(-math.sqrt(1 - half**2), -half, math.sqrt(1 - half**2), half, colour)
        elif kind == 2:
            angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(5, 9))))
            radii = rng.uniform(0.5, 1.0, angles.size)
            pen.polygon(np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1), colour)
        else:
            pen.line([(-0.9, 0.0), (0.9, 0.0)], colour, rng.uniform(0.15, 0.3))
        taken.append(Placement(spot[0], spot[1], radius, angle))


def _apply_ramp(
    pixels: np.ndarray, mask: np.ndarray, placement: Placement, direction: float, strength: float
) -> None:
    """Scale the brightness of the masked pixels linearly across the part, by up to ``strength`` either way."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return
    along = (
        (cols - placement.x) * math.cos(direction) + (rows - placement.y) * math.sin(direction)
    ) / placement.radius
    factor = (1.0 + strength * np.clip(along, -1.0, 1.0)).astype(np.float32)
    pixels[rows, cols] *= factor[:, None]
