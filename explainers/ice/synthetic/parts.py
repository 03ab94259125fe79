"""The part vocabulary: named, recognisable sub-shapes that classes are built from.

A part is the ground-truth concept of the synthetic dataset. Each one has a drawing
routine that works in a unit frame (every shape stays inside the unit disc, so any
rotation keeps it inside its placement circle) and varies its colours, proportions and
internal pattern from the random generator it is given; position, scale and rotation
come from the layout (see :mod:`.render`). Part ids, used as pixel values in the mask
files, are the 1-based positions in :data:`PARTS`, so new parts go at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .canvas import PartPen, circle_points, ellipse_points, hsv, random_colour, shade

DrawPart = Callable[[PartPen, np.random.Generator], None]

_DARK_OUTLINE = (25, 25, 30)


@dataclass(frozen=True)
class Part:
    """One concept of the vocabulary.

    Attributes
    ----------
    name : str
        Identifier used in class definitions, metadata and mask dictionaries.
    description : str
        A few words a person would use for it (shown in docs and metadata).
    draw : callable
        ``draw(pen, rng)`` draws the part in the pen's unit frame.
    max_rotation : float
        Largest rotation in degrees either way; 180 means any orientation. Parts with a
        natural "up" (a roof, a building) turn only a little, like real objects do.
    """

    name: str
    description: str
    draw: DrawPart
    max_rotation: float


def _draw_wheel(pen: PartPen, rng: np.random.Generator) -> None:
    tyre = random_colour(rng, saturation=(0.0, 0.25), value=(0.08, 0.3))
    rim = random_colour(rng, saturation=(0.0, 0.6), value=(0.7, 1.0))
    pen.disc(0, 0, 1.0, tyre)
    rim_radius = rng.uniform(0.55, 0.68)
    pen.disc(0, 0, rim_radius, rim)
    first = rng.uniform(0, 2 * math.pi)
    n_spokes = int(rng.integers(4, 7))
    for k in range(n_spokes):
        angle = first + 2 * math.pi * k / n_spokes
        pen.line([(0, 0), (rim_radius * math.cos(angle), rim_radius * math.sin(angle))], tyre, 0.1)
    pen.disc(0, 0, 0.2, tyre)


def _draw_eye(pen: PartPen, rng: np.random.Generator) -> None:
    height = rng.uniform(0.42, 0.62)
    xs = np.linspace(-0.95, 0.95, 15)
    upper = np.stack([xs, -height * (1 - xs**2)], axis=1)
    lower = np.stack([xs[::-1], height * (1 - xs[::-1] ** 2)], axis=1)
    almond = np.concatenate([upper, lower[1:-1]])
    pen.polygon(almond, random_colour(rng, saturation=(0.0, 0.12), value=(0.9, 1.0)))
    gaze = rng.uniform(-0.25, 0.25)
    iris_radius = min(0.42, height * 0.9)
    pen.disc(gaze, 0, iris_radius, random_colour(rng, saturation=(0.5, 1.0), value=(0.35, 0.8)))
    pen.disc(gaze, 0, iris_radius * 0.5, (10, 10, 12))
    pen.disc(gaze + iris_radius * 0.35, -iris_radius * 0.35, iris_radius * 0.18, (250, 250, 250))
    pen.line(np.concatenate([almond, almond[:1]]), _DARK_OUTLINE, 0.07)


def _draw_beak(pen: PartPen, rng: np.random.Generator) -> None:
    upper_colour = random_colour(rng, hue=(-0.02, 0.16), saturation=(0.7, 1.0), value=(0.85, 1.0))
    lower_colour = shade(upper_colour, rng.uniform(0.65, 0.85))
    gape = rng.uniform(0.05, 0.25)
    tip = rng.uniform(0.8, 0.95)
    pen.polygon([(-0.7, -0.62), (-0.7, -gape / 2), (tip, -0.04)], upper_colour)
    pen.polygon([(-0.7, gape / 2), (-0.7, 0.55), (tip * 0.8, 0.1)], lower_colour)


def _quadratic_curve(
    start: tuple[float, float], control: tuple[float, float], end: tuple[float, float], n: int = 10
) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (
        (1 - t) ** 2 * np.asarray(start)
        + 2 * (1 - t) * t * np.asarray(control)
        + t**2 * np.asarray(end)
    )


def _draw_fin(pen: PartPen, rng: np.random.Generator) -> None:
    tip = (rng.uniform(0.2, 0.45), -0.82)
    leading = _quadratic_curve((-0.8, 0.58), (rng.uniform(-0.45, -0.2), -0.6), tip)
    trailing = _quadratic_curve(tip, (rng.uniform(0.1, 0.3), 0.05), (0.75, 0.58))
    colour = random_colour(rng, hue=(0.45, 0.72), saturation=(0.45, 0.9), value=(0.35, 0.85))
    pen.polygon(np.concatenate([leading, trailing[1:]]), colour)
    pen.line(leading, shade(colour, 0.55), 0.12)


def _draw_window_grid(pen: PartPen, rng: np.random.Generator) -> None:
    wall = random_colour(rng, saturation=(0.15, 0.6), value=(0.25, 0.55))
    lit = random_colour(rng, hue=(0.1, 0.18), saturation=(0.3, 0.8), value=(0.9, 1.0))
    pen.rectangle(-0.7, -0.7, 0.7, 0.7, wall)
    rows, cols = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    cell_w, cell_h = 1.4 / cols, 1.4 / rows
    margin = rng.uniform(0.18, 0.28)
    for row in range(rows):
        for col in range(cols):
            x0, y0 = -0.7 + col * cell_w, -0.7 + row * cell_h
            pen.rectangle(
                x0 + margin * cell_w,
                y0 + margin * cell_h,
                x0 + (1 - margin) * cell_w,
                y0 + (1 - margin) * cell_h,
                lit,
            )


def _two_contrasting_colours(
    rng: np.random.Generator,
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    hue = rng.uniform(0, 1)
    light = hsv(hue, rng.uniform(0.3, 1.0), rng.uniform(0.8, 1.0))
    dark = hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.3, 1.0), rng.uniform(0.1, 0.4))
    return (light, dark) if rng.random() < 0.5 else (dark, light)


def _draw_stripes(pen: PartPen, rng: np.random.Generator) -> None:
    base, band = _two_contrasting_colours(rng)
    pen.rectangle(-0.7, -0.7, 0.7, 0.7, base)
    n_bands = int(rng.integers(3, 6))
    step = 1.4 / (2 * n_bands - 1)
    for k in range(n_bands - 1):
        y0 = -0.7 + (2 * k + 1) * step
        pen.rectangle(-0.7, y0, 0.7, y0 + step, band)


def _draw_spots(pen: PartPen, rng: np.random.Generator) -> None:
    body, dot = _two_contrasting_colours(rng)
    pen.disc(0, 0, 0.95, body)
    dot_radius = rng.uniform(0.13, 0.19)
    ring_angles = rng.uniform(0, 2 * math.pi) + np.arange(6) * math.pi / 3
    centres = [(0.0, 0.0)] + [(0.58 * math.cos(a), 0.58 * math.sin(a)) for a in ring_angles]
    keep = rng.permutation(len(centres))[: int(rng.integers(5, 8))]
    for index in keep:
        pen.disc(*centres[index], dot_radius, dot)


def _draw_antenna(pen: PartPen, rng: np.random.Generator) -> None:
    stalk = random_colour(rng, saturation=(0.0, 0.4), value=(0.1, 0.35))
    ball = random_colour(rng, saturation=(0.6, 1.0), value=(0.7, 1.0))
    spread = rng.uniform(0.45, 0.6)
    pen.line([(-0.3, 0.82), (0.3, 0.82)], stalk, 0.14)
    for side in (-1, 1):
        tip = (side * spread, -0.55)
        pen.line([(side * 0.12, 0.82), tip], stalk, 0.09)
        pen.disc(*tip, 0.2, ball)


def _draw_star(pen: PartPen, rng: np.random.Generator) -> None:
    inner = rng.uniform(0.36, 0.5)
    angles = -math.pi / 2 + np.arange(10) * math.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 1.0, inner)
    colour = random_colour(rng, hue=(0.08, 0.17), saturation=(0.6, 1.0), value=(0.85, 1.0))
    if rng.random() < 0.4:
        colour = random_colour(rng)
    pen.polygon(np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1), colour)


def _draw_ring(pen: PartPen, rng: np.random.Generator) -> None:
    squash = rng.uniform(0.55, 1.0)
    path = ellipse_points(0, 0, 0.72, 0.72 * squash, n=32)
    path = np.concatenate([path, path[:1]])
    outer = random_colour(rng)
    pen.line(path, outer, rng.uniform(0.3, 0.42))
    pen.line(path, shade(outer, rng.choice([0.5, 1.5])), 0.1)


def _draw_zigzag(pen: PartPen, rng: np.random.Generator) -> None:
    n_points = int(rng.integers(5, 8))
    amplitude = rng.uniform(0.35, 0.5)
    xs = np.linspace(-0.82, 0.82, n_points)
    ys = np.where(np.arange(n_points) % 2 == 0, -amplitude, amplitude)
    pen.line(np.stack([xs, ys], axis=1), random_colour(rng), rng.uniform(0.2, 0.28))


def _draw_checker(pen: PartPen, rng: np.random.Generator) -> None:
    first, second = _two_contrasting_colours(rng)
    n = int(rng.integers(3, 5))
    cell = 1.4 / n
    for row in range(n):
        for col in range(n):
            x0, y0 = -0.7 + col * cell, -0.7 + row * cell
            pen.rectangle(x0, y0, x0 + cell, y0 + cell, first if (row + col) % 2 == 0 else second)


def _draw_roof(pen: PartPen, rng: np.random.Generator) -> None:
    tiles = random_colour(rng, hue=(-0.03, 0.08), saturation=(0.5, 0.9), value=(0.35, 0.75))
    if rng.random() < 0.3:
        tiles = random_colour(rng, saturation=(0.0, 0.2), value=(0.2, 0.45))
    apex = -rng.uniform(0.5, 0.7)
    pen.rectangle(0.3, -0.72, 0.52, 0.1, shade(tiles, 0.6))  # chimney, partly hidden by the roof
    pen.polygon([(-0.82, 0.55), (0.82, 0.55), (0.0, apex)], tiles)
    for fraction in (0.35, 0.7):
        y = apex + fraction * (0.55 - apex)
        half = 0.82 * fraction
        pen.line([(-half, y), (half, y)], shade(tiles, 0.6), 0.06)


def _draw_ladder(pen: PartPen, rng: np.random.Generator) -> None:
    colour = random_colour(rng, hue=(0.05, 0.12), saturation=(0.4, 0.8), value=(0.35, 0.7))
    if rng.random() < 0.4:
        colour = random_colour(rng, saturation=(0.0, 0.15), value=(0.55, 0.9))
    half = rng.uniform(0.3, 0.4)
    for side in (-half, half):
        pen.line([(side, -0.9), (side, 0.9)], colour, 0.13)
    n_rungs = int(rng.integers(3, 6))
    for y in np.linspace(-0.65, 0.65, n_rungs):
        pen.line([(-half, y), (half, y)], colour, 0.1)


def _draw_crescent(pen: PartPen, rng: np.random.Generator) -> None:
    # Outer disc of radius 0.95 minus an inner disc of radius r centred at (d, 0).
    outer, inner, offset = 0.95, rng.uniform(0.72, 0.82), rng.uniform(0.32, 0.45)
    x0 = (outer**2 + offset**2 - inner**2) / (2 * offset)
    y0 = math.sqrt(max(outer**2 - x0**2, 0.0))
    theta = math.atan2(y0, x0)
    phi = math.atan2(y0, x0 - offset)
    outer_arc = [
        (outer * math.cos(a), outer * math.sin(a))
        for a in np.linspace(theta, 2 * math.pi - theta, 20)
    ]
    inner_arc = [
        (offset + inner * math.cos(a), inner * math.sin(a))
        for a in np.linspace(2 * math.pi - phi, phi, 16)
    ]
    colour = random_colour(rng, hue=(0.1, 0.18), saturation=(0.0, 0.6), value=(0.85, 1.0))
    pen.polygon(outer_arc + inner_arc, colour)


def _draw_cross(pen: PartPen, rng: np.random.Generator) -> None:
    w, arm = rng.uniform(0.2, 0.3), 0.9
    outline = [
        (-w, -arm),
        (w, -arm),
        (w, -w),
        (arm, -w),
        (arm, w),
        (w, w),
        (w, arm),
        (-w, arm),
        (-w, w),
        (-arm, w),
        (-arm, -w),
        (-w, -w),
    ]
    colour = random_colour(rng, hue=(-0.03, 0.03), saturation=(0.7, 1.0), value=(0.75, 1.0))
    if rng.random() < 0.5:
        colour = random_colour(rng)
    pen.polygon(outline, colour)


def _draw_spiral(pen: PartPen, rng: np.random.Generator) -> None:
    turns = rng.uniform(2.0, 2.6)
    angles = np.linspace(0, turns * 2 * math.pi, 60)
    radii = 0.08 + 0.8 * angles / angles[-1]
    direction = rng.choice([-1.0, 1.0])
    path = np.stack(
        [radii * np.cos(direction * angles), radii * np.sin(direction * angles)], axis=1
    )
    pen.line(path, random_colour(rng), 0.13)


def _draw_heart(pen: PartPen, rng: np.random.Generator) -> None:
    t = np.linspace(0, 2 * math.pi, 40, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    colour = random_colour(rng, hue=(0.88, 1.02), saturation=(0.5, 1.0), value=(0.7, 1.0))
    pen.polygon(np.stack([x, y - 2.5], axis=1) / 18.0, colour)


def _draw_arrow(pen: PartPen, rng: np.random.Generator) -> None:
    colour = random_colour(rng)
    head = rng.uniform(0.35, 0.45)
    pen.line([(-0.85, 0.0), (0.4, 0.0)], colour, 0.16)
    pen.polygon([(0.25, -head), (0.95, 0.0), (0.25, head)], colour)
    for side in (-1, 1):
        pen.line([(-0.6, 0.0), (-0.85, side * 0.3)], colour, 0.1)


def _draw_flower(pen: PartPen, rng: np.random.Generator) -> None:
    petal = random_colour(rng, saturation=(0.0, 1.0), value=(0.75, 1.0))
    centre = random_colour(rng, hue=(0.05, 0.15), saturation=(0.6, 1.0), value=(0.4, 0.9))
    n_petals = int(rng.integers(5, 8))
    first = rng.uniform(0, 2 * math.pi)
    for k in range(n_petals):
        angle = first + 2 * math.pi * k / n_petals
        pen.polygon(
            ellipse_points(0.56 * math.cos(angle), 0.56 * math.sin(angle), 0.4, 0.22, tilt=angle),
            petal,
        )
    pen.polygon(circle_points(0, 0, 0.3), centre)


PARTS: tuple[Part, ...] = (
    Part("wheel", "a dark tyre with a light rim and spokes", _draw_wheel, 180),
    Part("eye", "an almond-shaped eye with iris and pupil", _draw_eye, 30),
    Part("beak", "an orange-yellow bird beak, slightly open", _draw_beak, 180),
    Part("fin", "a curved shark-like fin", _draw_fin, 40),
    Part("window_grid", "a dark facade with a grid of lit windows", _draw_window_grid, 12),
    Part("stripes", "a square patch of parallel bands", _draw_stripes, 180),
    Part("spots", "a round patch with polka dots", _draw_spots, 180),
    Part("antenna", "two stalks with balls on their tips", _draw_antenna, 30),
    Part("star", "a five-pointed star", _draw_star, 180),
    Part("ring", "a thick two-tone ring or hoop", _draw_ring, 180),
    Part("zigzag", "a thick zigzag line", _draw_zigzag, 180),
    Part("checker", "a checkerboard patch", _draw_checker, 180),
    Part("roof", "a tiled triangular roof with a chimney", _draw_roof, 12),
    Part("ladder", "two rails joined by rungs", _draw_ladder, 35),
    Part("crescent", "a pale crescent moon", _draw_crescent, 180),
    Part("cross", "a plus-shaped cross", _draw_cross, 20),
    Part("spiral", "a coiled spiral line", _draw_spiral, 180),
    Part("heart", "a red or pink heart", _draw_heart, 25),
    Part("arrow", "an arrow with a triangular head and fletching", _draw_arrow, 180),
    Part("flower", "petals around a round centre", _draw_flower, 180),
)

PART_NAMES: tuple[str, ...] = tuple(part.name for part in PARTS)
PARTS_BY_NAME: dict[str, Part] = {part.name: part for part in PARTS}
PART_IDS: dict[str, int] = {part.name: index + 1 for index, part in enumerate(PARTS)}
