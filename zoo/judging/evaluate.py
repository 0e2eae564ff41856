"""Score predictions with every metric that fits the target, with honest intervals.

- Every metric gets a patient-level bootstrap interval (95 %): patients are resampled with
  replacement, not crops, because a patient's joints are not independent. Seeded.
- Proportions (accuracy, sensitivity, specificity) also get the Wilson score interval (95 %),
  as the thesis used.
- Targets with classes (stage, binary) also get the confusion matrix, normalised per true class.
- Landmarks targets also get every metric of each point alone (no intervals).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import confusion_matrix

from zoo.compose.metrics import build_metrics
from zoo.compose.registry import Registry
from zoo.predictions import Predictions
from zoo.progress import track
from zoo.protocols import Metric
from zoo.runs import MetricResult, SplitResult
from zoo.targets import TARGETS


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score interval (95 %) of a proportion; NaN when there are no trials."""
    if trials == 0:
        return (math.nan, math.nan)
    interval = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(interval.low), float(interval.high))


def patient_bootstrap(
    predictions: Predictions, metrics: dict[str, Metric], resamples: int, seed: int
) -> dict[str, tuple[tuple[float, float], int]]:
    """95 % percentile intervals of every metric over resampled patients, each with the number of
    resamples on which the metric is undefined and which the interval leaves out.

    A resample is undefined for a metric when the metric gives no finite value, or when the metric
    needs every true class of the data (`needs_every_class`, e.g. balanced accuracy, ROC AUC,
    kappa) and the resample lacks one: scoring it anyway would measure something else (a model
    that always says "eroded" would get a perfect balanced accuracy on a resample of eroded joints).
    """
    if resamples <= 0:
        return {}
    patients, inverse = np.unique(predictions.patient, return_inverse=True)
    rows_of = [np.flatnonzero(inverse == i) for i in range(len(patients))]
    classes = np.unique(predictions.y_true)
    rng = np.random.default_rng([seed, 5])
    draws: dict[str, list[float]] = {name: [] for name in metrics}
    for _ in track(range(resamples), "patient bootstrap"):
        chosen = rng.integers(0, len(patients), len(patients))
        sample = predictions.take(np.concatenate([rows_of[i] for i in chosen]))
        complete = np.array_equal(np.unique(sample.y_true), classes)
        for name, metric in metrics.items():
            defined = complete or not metric.needs_every_class
            draws[name].append(metric(sample) if defined else math.nan)
    intervals = {}
    for name, values in draws.items():
        finite = np.asarray(values)[np.isfinite(values)]
        interval = (
            (float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5)))
            if len(finite)
            else (math.nan, math.nan)
        )
        intervals[name] = (interval, resamples - len(finite))
    return intervals


def confusion(predictions: Predictions, classes: int) -> list[list[float]]:
    """Confusion matrix normalised per true class (rows: true, columns: predicted); the row of a
    class absent from the data is zeros."""
    matrix = confusion_matrix(
        predictions.y_true.astype(int), predictions.y_pred.astype(int), labels=range(classes), normalize="true"
    )
    rows: list[list[float]] = np.asarray(matrix, dtype=float).round(4).tolist()
    return rows


def evaluate(
    predictions: Predictions,
    registry: Registry,
    names: list[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> SplitResult:
    """Every applicable metric with its intervals, plus counts and the confusion matrix."""
    metrics = build_metrics(registry, predictions.target, predictions.tags(), names)
    intervals = patient_bootstrap(predictions, metrics, resamples, seed)
    result: SplitResult = {
        "target": predictions.target,
        "n": len(predictions),
        "patients": len(np.unique(predictions.patient)),
        "bootstrap_resamples": resamples,
        "metrics": {},
    }
    for name, metric in metrics.items():
        entry: MetricResult = {
            "value": json_number(metric(predictions)),
            "higher_is_better": bool(metric.higher_is_better),
        }
        if name in intervals:
            interval, undefined = intervals[name]
            entry["bootstrap_95"] = [json_number(v) for v in interval]
            entry["bootstrap_undefined"] = undefined
        if metric.counts is not None:
            entry["wilson_95"] = [json_number(v) for v in wilson(*metric.counts(predictions))]
        result["metrics"][name] = entry
    classes = TARGETS[predictions.target].classes
    if classes is not None:
        result["confusion_matrix"] = confusion(predictions, classes)
    if TARGETS[predictions.target].points:
        result["landmarks"] = {
            name: {key: json_number(metric(predictions.point(name))) for key, metric in metrics.items()}
            for name in predictions.names
        }
    return result


def json_number(value: float) -> float | None:
    """A metric value for JSON: rounded to 6 decimals; NaN becomes None."""
    return None if value is None or not math.isfinite(value) else round(float(value), 6)
