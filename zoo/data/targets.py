"""Labels on their scale: checks, conversion to the recipe's target, and classes for splits.

The scales and targets themselves are the target table (zoo.targets).
"""

from __future__ import annotations

import numpy as np

from zoo.clinical import ratingen_stages, svdh_erosion_scores
from zoo.targets import TARGETS


def label_problem(value: object, scale: str) -> str | None:
    """Why a raw label cannot be used on its scale, or None when it is fine."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return "label missing"
    try:
        number = float(str(value).strip())
    except ValueError:
        return "label is not a number"
    if np.isnan(number):
        return "label missing"
    target = TARGETS[scale]
    if not target.low <= number <= target.high:
        return "label out of range"
    if target.whole and number != int(number):
        return "label is not a whole number"
    return None


def to_target(labels: np.ndarray, scale: str, target: str) -> np.ndarray:
    """Convert checked labels from their scale to the target (float array)."""
    labels = np.asarray(labels, dtype=np.float64)
    if target == scale:
        return labels
    if TARGETS[target].decision:  # eroded or not, from a percent or a stage
        return (labels > 0).astype(np.float64)
    if target == "svdh_erosion":  # SvdH erosion scores from a percent
        return svdh_erosion_scores(labels).astype(np.float64)
    return ratingen_stages(labels).astype(np.float64)  # stages from a percent


def classes(labels: np.ndarray, scale: str) -> np.ndarray:
    """The class of each label: Ratingen stage for percent, the label itself on a scale of classes."""
    labels = np.asarray(labels, dtype=np.float64)
    if not TARGETS[scale].whole:
        return ratingen_stages(labels)
    return labels.astype(np.int64)
