"""Named points on an image (landmarks): their labels, and where they lie on the model's input.

A landmarks label is a JSON object of point names to `[x, y]` pixels of the image file (x to the
right, y down, from the top-left corner). The model sees the image padded with black to a square
and resized (zoo.images.prepare), so it learns and predicts positions in *unit* coordinates of
that square: (0, 0) its top-left corner, (1, 1) its bottom-right. `to_unit` and `to_pixels`
convert between the two for images of given sizes; errors are always reported in pixels of the
image file (the thesis's and the localisation literature's unit).
"""

from __future__ import annotations

import json
import math

import numpy as np

FOUND_CONFIDENCE = 0.3  # a located point below this confidence is "not found" (docs/localisation.md)
REPEATED = "given more than once"  # a dataset's mark for a point its table lists twice


def parse_points(value: object, names: list[str], width: int, height: int) -> tuple[np.ndarray | None, str | None]:
    """The label's points in the order of `names`, (K, 2) pixels; or None and why it is unusable.

    `width` and `height` are the image's (0 when it could not be read: the position check waits)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None, "label missing"
    try:
        found = json.loads(str(value))
    except ValueError:
        return None, "label is not a JSON object of points"
    if not isinstance(found, dict):
        return None, "label is not a JSON object of points"
    missing = [name for name in names if name not in found]
    if missing:
        return None, f"landmark {missing[0]} missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
    points = np.zeros((len(names), 2))
    for k, name in enumerate(names):
        position = found[name]
        if position == REPEATED:
            return None, f"landmark {name}: {REPEATED}"
        if not (
            isinstance(position, list)
            and len(position) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in position)
        ):
            return None, f"landmark {name}: not an [x, y] pair of numbers"
        points[k] = position
    if width > 0 and height > 0:
        outside = (points[:, 0] < 0) | (points[:, 0] > width) | (points[:, 1] < 0) | (points[:, 1] > height)
        if outside.any():
            return None, f"landmark {names[int(np.argmax(outside))]} lies outside the image"
    return points, None


def square_frames(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's padded square: its side (N,) and the padding before the image (N, 2), in
    pixels, exactly as zoo.images.prepare pads."""
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    side = sizes.max(axis=1)
    pad = (side[:, None] - sizes) // 2
    return side.astype(float), pad.astype(float)


def to_unit(points: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(N, K, 2) pixels of images of `sizes` (N, 2: width, height) to unit coordinates of their squares."""
    side, pad = square_frames(sizes)
    unit: np.ndarray = (np.asarray(points, dtype=float) + pad[:, None, :]) / side[:, None, None]
    return unit


def to_pixels(unit: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The inverse of `to_unit`: (N, K, 2) unit coordinates to pixels of the images."""
    side, pad = square_frames(sizes)
    pixels: np.ndarray = np.asarray(unit, dtype=float) * side[:, None, None] - pad[:, None, :]
    return pixels
