"""The metrics of locators, on landmarks predictions (zoo.predictions): radial errors in pixels.

The radial error of a point is the distance from its predicted to its true position, in pixels of
the image file (the localisation literature's unit, and what a crop's size is measured in).
Every metric takes every point of every image alike, found or not: a point the locator is unsure
of still counts with its guessed position, so the errors are never flattered by leaving the hard
ones out; `not_found` says how many fell below the confidence threshold.
"""

from __future__ import annotations

import numpy as np

from zoo.landmarks import FOUND_CONFIDENCE
from zoo.predictions import Predictions

from .scores import Metric

RADIUS = 20.0  # pixels: about a fifth of a finger-joint crop on a 1,280 px radiograph


def radial_errors(p: Predictions) -> np.ndarray:
    """Every point's distance from prediction to truth, in pixels, flattened."""
    return np.asarray(np.linalg.norm(p.y_pred - p.y_true, axis=-1), dtype=float).reshape(-1)


def _median(p: Predictions) -> float:
    errors = radial_errors(p)
    return float(np.median(errors)) if len(errors) else float("nan")


def _p95(p: Predictions) -> float:
    errors = radial_errors(p)
    return float(np.percentile(errors, 95)) if len(errors) else float("nan")


def _within_counts(p: Predictions) -> tuple[int, int]:
    errors = radial_errors(p)
    return int(np.sum(errors <= RADIUS)), len(errors)


def _not_found_counts(p: Predictions) -> tuple[int, int]:
    if p.confidence is None:
        return 0, 0
    return int(np.sum(p.confidence < FOUND_CONFIDENCE)), int(p.confidence.size)


def _share(counts: tuple[int, int]) -> float:
    hits, trials = counts
    return hits / trials if trials else float("nan")


def build_median_radial_error(params: object) -> Metric:
    """Median radial error over all points, in pixels."""
    return Metric(_median, higher_is_better=False)


def build_p95_radial_error(params: object) -> Metric:
    """95th percentile of the radial errors, in pixels."""
    return Metric(_p95, higher_is_better=False)


def build_within_20px(params: object) -> Metric:
    """Share of points within 20 pixels of the truth."""
    return Metric(lambda p: _share(_within_counts(p)), counts=_within_counts)


def build_not_found(params: object) -> Metric:
    """Share of points whose confidence is below the threshold (reported as not found)."""
    return Metric(lambda p: _share(_not_found_counts(p)), higher_is_better=False, counts=_not_found_counts)
