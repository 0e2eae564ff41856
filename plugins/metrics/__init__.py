"""Built-in metrics: the thesis's, plus kappa, ROC AUC, sensitivity and specificity, and the radial errors of
locators."""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import RegisterComponent

SCORES = "zoo_plugins.metrics.scores"
RADIAL = "zoo_plugins.metrics.radial"
CALIBRATION = "zoo_plugins.metrics.calibration"
GRADED = ["stage", "svdh_erosion", "svdh_jsn"]  # ordered grades: Ratingen stages, SvdH scores
# In the order results views show them per target (tables drop the last first when short of
# width); `ranks` names the targets a metric ranks by default; the label heads table columns.
METRICS: tuple[tuple[str, str, list[str], list[str], list[str], str], ...] = (
    # name, label in tables, targets, requires, ranks, description
    ("class_normalised_accuracy", "CNA", GRADED, [], ["stage"], "mean recall over the grades present (thesis)"),
    ("class_normalised_accuracy_pm1", "CNA±1", GRADED, [], [],
     "class-normalised accuracy within +-1 stage (thesis)"),
    ("mse", "MSE", ["percent"], [], ["percent"], "mean squared error of the percent (thesis)"),
    ("balanced_accuracy", "bal.acc", ["binary"], [], ["binary"], "mean of sensitivity and specificity"),
    ("roc_auc", "AUC", ["binary"], ["probs"], [], "area under the ROC curve of P(eroded)"),
    ("sensitivity", "sens", ["binary"], [], [], "recall of eroded joints"),
    ("specificity", "spec", ["binary"], [], [], "recall of healthy joints"),
    ("accuracy", "acc", [*GRADED, "binary"], [], [], "share of exactly right predictions"),
    ("quadratic_weighted_kappa", "QWK", GRADED, [], ["svdh_erosion", "svdh_jsn"],
     "Cohen's kappa with quadratic weights"),
    ("mae", "MAE", ["percent"], [], [], "mean absolute error of the percent (thesis)"),
    ("crps", "CRPS", ["percent"], ["cdf"], [], "continuous ranked probability score of the CDF (thesis)"),
    ("expected_calibration_error", "ECE", [*GRADED, "binary"], ["probs"], [],
     "expected calibration error of the most probable class's probability, 15 bins"),
    ("brier_score", "Brier", [*GRADED, "binary"], ["probs"], [],
     "mean squared distance of the probabilities from the truth"),
    ("coverage_50", "cov50", ["percent"], ["cdf"], [], "share of true percents inside the predicted 50 % interval"),
    ("coverage_80", "cov80", ["percent"], ["cdf"], [], "share of true percents inside the predicted 80 % interval"),
    ("pit_distance", "PIT", ["percent"], ["cdf"], [], "Kolmogorov-Smirnov distance of the PIT values from uniform"),
    ("median_radial_error", "median px", ["landmarks"], ["points"], ["landmarks"],
     "median distance from predicted to true point, in pixels of the image"),
    ("p95_radial_error", "p95 px", ["landmarks"], ["points"], [], "95th percentile of the radial errors, in pixels"),
    ("within_20px", "≤20px", ["landmarks"], ["points"], [], "share of points within 20 pixels of the truth"),
    ("not_found", "not found", ["landmarks"], ["points", "confidence"], [],
     "share of points below the confidence threshold (reported as not found)"),
)  # fmt: skip
POINT_METRICS = {"median_radial_error", "p95_radial_error", "within_20px", "not_found"}
CALIBRATION_METRICS = {"expected_calibration_error", "brier_score", "coverage_50", "coverage_80", "pit_distance"}
SAME_AS = {"balanced_accuracy": "class_normalised_accuracy"}


@hookimpl
def zoo_register_metrics(register: RegisterComponent) -> None:
    """Register the metrics."""
    for name, label, targets, requires, ranks, description in METRICS:
        module = RADIAL if name in POINT_METRICS else CALIBRATION if name in CALIBRATION_METRICS else SCORES
        factory = f"{module}:build_{SAME_AS.get(name, name)}"
        register(name, factory, description=description, targets=targets, requires=requires, ranks=ranks, display=label)
