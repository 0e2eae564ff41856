"""Operating thresholds for binary targets: the P(eroded) at which a joint counts as eroded.

A recipe's `eval.threshold` is a fixed probability, `youden` (the point of the validation ROC
curve farthest above chance: sensitivity + specificity - 1 largest), or a target rate
(`{sensitivity: 0.9}`: the highest threshold that still reaches it on the validation split;
`{specificity: 0.9}`: the lowest). It is chosen on the validation split only, stored with the run
(`metrics.json`, `config.json`), and used by the run's test predictions, `zoo predict` and
`zoo evaluate --threshold`; `zoo.predictions.decide` applies it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from sklearn.metrics import roc_curve

from zoo.errors import UsageError

if TYPE_CHECKING:
    from zoo.compose.recipe import TargetRate

DEFAULT = 0.5


def describe(rule: float | Literal["youden"] | TargetRate | None) -> str:
    """The rule as recipes write it."""
    if rule is None:
        return f"{DEFAULT} (default)"
    if isinstance(rule, float | int | str):
        return str(rule)
    return ", ".join(f"{k} {v}" for k, v in rule.model_dump(exclude_none=True).items())


def choose(rule: float | Literal["youden"] | TargetRate | None, y_true: np.ndarray, p_eroded: np.ndarray) -> float:
    """The threshold `rule` picks on validation labels `y_true` (0/1) and probabilities `p_eroded`."""
    if rule is None:
        return DEFAULT
    if isinstance(rule, float | int):
        return float(rule)
    if len(np.unique(y_true)) < 2:
        raise UsageError(
            "eval.threshold: the validation split has only one class, so no operating point can be chosen",
            hint="use a fixed threshold, or a split whose validation patients include both classes",
        )
    fpr, tpr, cuts = roc_curve(y_true.astype(int), p_eroded, drop_intermediate=False)
    cuts = np.minimum(cuts, math.nextafter(1.0, 2.0))  # the first cut is +inf: nothing counts as eroded
    if rule == "youden":
        index = int(np.argmax(tpr - fpr))
    elif rule.sensitivity is not None:
        index = int(np.flatnonzero(tpr >= rule.sensitivity)[0])
    else:
        index = int(np.flatnonzero(1.0 - fpr >= rule.specificity)[-1])
    return float(cuts[index])
