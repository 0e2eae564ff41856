"""Built-in metrics: the thesis's, plus kappa, ROC AUC, sensitivity and specificity."""

from __future__ import annotations

from typing import Any

from zoo import hookimpl

SCORES = "zoo_plugins.metrics.scores"
METRICS = (
    # name, targets, requires, description
    ("accuracy", ["stage", "binary"], [], "share of exactly right predictions"),
    ("class_normalised_accuracy", ["stage"], [], "mean recall over the stages present (thesis)"),
    ("class_normalised_accuracy_pm1", ["stage"], [], "class-normalised accuracy within +-1 stage (thesis)"),
    ("quadratic_weighted_kappa", ["stage"], [], "Cohen's kappa with quadratic weights"),
    ("mse", ["percent"], [], "mean squared error of the percent (thesis)"),
    ("mae", ["percent"], [], "mean absolute error of the percent (thesis)"),
    ("crps", ["percent"], ["cdf"], "continuous ranked probability score of the CDF (thesis)"),
    ("balanced_accuracy", ["binary"], [], "mean of sensitivity and specificity"),
    ("roc_auc", ["binary"], ["probs"], "area under the ROC curve of P(eroded)"),
    ("sensitivity", ["binary"], [], "recall of eroded joints"),
    ("specificity", ["binary"], [], "recall of healthy joints"),
)  # fmt: skip
SAME_AS = {"balanced_accuracy": "class_normalised_accuracy"}


@hookimpl
def zoo_register_metrics(register: Any) -> None:
    """Register the metrics."""
    for name, targets, requires, description in METRICS:
        factory = f"{SCORES}:build_{SAME_AS.get(name, name)}"
        register(name, factory, description=description, targets=targets, requires=requires)
