"""Label scales and targets: what a dataset gives and what a model learns.

A dataset labels its samples on one scale: `percent` (eroded joint surface, 0-100), `stage`
(Ratingen, 0-5) or `binary` (eroded or not, 0/1). A recipe's target must be reachable from it:
percent -> percent, stage, binary; stage -> stage, binary; binary -> binary.
The classes used for stratified splits and imbalance strategies are the Ratingen stages for
`percent` and `stage`, and 0/1 for `binary`.
"""

from __future__ import annotations

import numpy as np

from zoo.clinical import ratingen_stages

SCALES = ("percent", "stage", "binary")
REACHABLE = {
    "percent": ("percent", "stage", "binary"),
    "stage": ("stage", "binary"),
    "binary": ("binary",),
}
N_CLASSES = {"percent": 6, "stage": 6, "binary": 2}
RANGES = {"percent": (0.0, 100.0), "stage": (0.0, 5.0), "binary": (0.0, 1.0)}


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
    low, high = RANGES[scale]
    if not low <= number <= high:
        return "label out of range"
    if scale != "percent" and number != int(number):
        return "label is not a whole number"
    return None


def label_rule(scale: str) -> str:
    """What a valid label on `scale` is, for messages."""
    low, high = RANGES[scale]
    whole = "" if scale == "percent" else "whole numbers "
    return f"{scale} labels are {whole}{low:g} to {high:g}"


def to_target(labels: np.ndarray, scale: str, target: str) -> np.ndarray:
    """Convert checked labels from their scale to the target (float array)."""
    labels = np.asarray(labels, dtype=np.float64)
    if target == scale:
        return labels
    if target == "stage":  # from percent
        return ratingen_stages(labels).astype(np.float64)
    return (labels > 0).astype(np.float64)  # binary from percent or stage


def classes(labels: np.ndarray, scale: str) -> np.ndarray:
    """The class of each label: Ratingen stage for percent and stage, 0/1 for binary."""
    labels = np.asarray(labels, dtype=np.float64)
    if scale == "percent":
        return ratingen_stages(labels)
    return labels.astype(np.int64)
