"""Drawing shapes in a part's own coordinate frame, on the image and on its part-label map at once.

Every part is designed in a unit frame: the shape lies inside the unit disc centred on
the origin, x to the right, y down. A :class:`PartPen` maps that frame onto the image
(rotation, scale, translation) and draws each primitive twice with the same pixel
coordinates: once in colour on the RGB image, once with the part's id on the label map.
Pillow rasterises identical coordinates identically whatever the image mode, so the
label map holds exactly the pixels the part covered, no more and no fewer; a later part
simply overwrites both images where it covers an earlier one.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence

import numpy as np
from PIL import ImageDraw

Colour = tuple[int, int, int]
Points = Sequence[tuple[float, float]] | np.ndarray


def hsv(hue: float, saturation: float, value: float) -> Colour:
    """Return the 8-bit RGB colour for ``hue`` (wrapped to [0, 1)), ``saturation`` and ``value`` in [0, 1]."""
    red, green, blue = colorsys.hsv_to_rgb(
        hue % 1.0, min(max(saturation, 0.0), 1.0), min(max(value, 0.0), 1.0)
    )
    return (round(red * 255), round(green * 255), round(blue * 255))


def random_colour(
    rng: np.random.Generator,
    hue: tuple[float, float] = (0.0, 1.0),
    saturation: tuple[float, float] = (0.55, 1.0),
    value: tuple[float, float] = (0.55, 1.0),
) -> Colour:
    """Draw a colour uniformly from the given HSV ranges (a hue range may wrap past 1)."""
    return hsv(rng.uniform(*hue), rng.uniform(*saturation), rng.uniform(*value))


def shade(colour: Colour, factor: float) -> Colour:
    """Return ``colour`` with each channel scaled by ``factor`` (darker below 1, lighter above), clipped."""
    return tuple(int(min(255, max(0, round(channel * factor)))) for channel in colour)  # type: ignore[return-value]


def circle_points(cx: float = 0.0, cy: float = 0.0, radius: float = 1.0, n: int = 28) -> np.ndarray:
    """Return ``n`` points on a circle as an array of shape (n, 2), for drawing discs as polygons."""
    angles = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)


def ellipse_points(
    cx: float, cy: float, rx: float, ry: float, tilt: float = 0.0, n: int = 24
) -> np.ndarray:
    """Return ``n`` points of shape (n, 2) on an ellipse with semi-axes ``rx``, ``ry`` tilted by ``tilt`` radians."""
    angles = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    x, y = rx * np.cos(angles), ry * np.sin(angles)
    cos_t, sin_t = math.cos(tilt), math.sin(tilt)
    return np.stack([cx + x * cos_t - y * sin_t, cy + x * sin_t + y * cos_t], axis=1)


class PartPen:
    """Draw primitives given in a unit frame onto an image and (optionally) a label map.

    Parameters
    ----------
    image_draw : PIL.ImageDraw.ImageDraw
        Drawing context of the RGB image.
    label_draw : PIL.ImageDraw.ImageDraw or None
        Drawing context of the ``"L"`` label map, or ``None`` for shapes that are not
        parts (distractors), which leave the label map untouched.
    label : int
        Value written to the label map for every pixel this pen covers (1..255).
    center : tuple of float
        Pixel position (x, y) of the frame's origin.
    radius : float
        Pixels per unit: the unit disc becomes a disc of this radius.
    angle : float
        Rotation of the frame in degrees, counter-clockwise on screen.
    """

    def __init__(
        self,
        image_draw: ImageDraw.ImageDraw,
        label_draw: ImageDraw.ImageDraw | None,
        label: int,
        center: tuple[float, float],
        radius: float,
        angle: float,
    ) -> None:
        self._image = image_draw
        self._label = label_draw
        self._label_value = label
        self.radius = radius
        theta = math.radians(angle)
        # y points down on screen, so a positive angle turns the frame counter-clockwise as seen.
        self._matrix = radius * np.array(
            [[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]]
        )
        self._center = np.asarray(center, dtype=float)

    def to_pixels(self, points: Points) -> list[tuple[float, float]]:
        """Map unit-frame points of shape (k, 2) to a list of k pixel (x, y) tuples."""
        unit = np.asarray(points, dtype=float).reshape(-1, 2)
        pixels = unit @ self._matrix.T + self._center
        return [(float(x), float(y)) for x, y in pixels]

    def polygon(self, points: Points, fill: Colour) -> None:
        """Fill the polygon through ``points`` (unit frame, shape (k, 2), k >= 3)."""
        xy = self.to_pixels(points)
        self._image.polygon(xy, fill=fill)
        if self._label is not None:
            self._label.polygon(xy, fill=self._label_value)

    def line(self, points: Points, fill: Colour, width: float) -> None:
        """Draw a polyline through ``points`` with a stroke ``width`` in unit-frame units (at least 1 px)."""
        xy = self.to_pixels(points)
        pixels = max(1, round(width * self.radius))
        self._image.line(xy, fill=fill, width=pixels, joint="curve")
        if self._label is not None:
            self._label.line(xy, fill=self._label_value, width=pixels, joint="curve")

    def disc(self, cx: float, cy: float, radius: float, fill: Colour) -> None:
        """Fill a disc of ``radius`` unit-frame units centred on (cx, cy)."""
        self.polygon(circle_points(cx, cy, radius), fill)

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, fill: Colour) -> None:
        """Fill the axis-aligned (in the unit frame) rectangle with corners (x0, y0) and (x1, y1)."""
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill)
