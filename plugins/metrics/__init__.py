"""Built-in metrics: the thesis's, plus kappa, ROC AUC, sensitivity and specificity."""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import RegisterComponent

SCORES = "zoo_plugins.metrics.scores"
# In the order results views show them per target (tables drop the last first when short of
# width); `ranks` names the targets a metric ranks by default; the label heads table columns.
METRICS: tuple[tuple[str, str, list[str], list[str], list[str], str], ...] = (
    # name, label in tables, targets, requires, ranks, description
    ("class_normalised_accuracy", "CNA", ["stage"], [], ["stage"], "mean recall over the stages present (thesis)"),
    ("class_normalised_accuracy_pm1", "CNA±1", ["stage"], [], [],
     "class-normalised accuracy within +-1 stage (thesis)"),
    ("mse", "MSE", ["percent"], [], ["percent"], "mean squared error of the percent (thesis)"),
    ("balanced_accuracy", "bal.acc", ["binary"], [], ["binary"], "mean of sensitivity and specificity"),
    ("roc_auc", "AUC", ["binary"], ["probs"], [], "area under the ROC curve of P(eroded)"),
    ("sensitivity", "sens", ["binary"], [], [], "recall of eroded joints"),
    ("specificity", "spec", ["binary"], [], [], "recall of healthy joints"),
    ("accuracy", "acc", ["stage", "binary"], [], [], "share of exactly right predictions"),
    ("quadratic_weighted_kappa", "QWK", ["stage"], [], [], "Cohen's kappa with quadratic weights"),
    ("mae", "MAE", ["percent"], [], [], "mean absolute error of the percent (thesis)"),
    ("crps", "CRPS", ["percent"], ["cdf"], [], "continuous ranked probability score of the CDF (thesis)"),
)  # fmt: skip
SAME_AS = {"balanced_accuracy": "class_normalised_accuracy"}


@hookimpl
def zoo_register_metrics(register: RegisterComponent) -> None:
    """Register the metrics."""
    for name, label, targets, requires, ranks, description in METRICS:
        factory = f"{SCORES}:build_{SAME_AS.get(name, name)}"
        register(name, factory, description=description, targets=targets, requires=requires, ranks=ranks, display=label)
