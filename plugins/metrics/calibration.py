"""Whether a model's uncertainty means what it says.

Class probabilities (stage, binary, SvdH grades):
- expected calibration error (ECE): the predictions binned by the probability of their most
  probable class (15 equal-width bins), the mean over bins, weighted by their share, of
  |that probability's mean - the share right| (Guo et al. 2017);
- Brier score: the mean over predictions of sum_k (p_k - [y = k])^2 (0 is perfect, 2 the worst).

Predicted CDFs of the percent:
- coverage of the central 50 % and 80 % intervals (the 25th-75th and 10th-90th percentiles, as
  the CDF head reads them: the smallest k with F(k) >= level): the share of true values inside;
  a calibrated model covers 50 % and 80 %;
- PIT distance: the probability integral transform of each true value, F(y - 1) + (F(y) -
  F(y - 1)) / 2 (the middle of its step, the CDF being discrete), should be uniform; the distance
  is the largest gap between its empirical distribution and the uniform one (Kolmogorov-Smirnov),
  0 when uniform.
"""

from __future__ import annotations

import numpy as np

from zoo.predictions import Predictions

from .scores import Metric

BINS = 15


def expected_calibration_error(p: Predictions) -> float:
    """ECE of the most probable class's probability, 15 equal-width bins."""
    if p.probs is None or not len(p):
        return float("nan")
    confidence = p.probs.max(axis=1)
    right = (p.probs.argmax(axis=1) == p.y_true.astype(int)).astype(float)
    bins = np.minimum((confidence * BINS).astype(int), BINS - 1)
    total = 0.0
    for b in np.unique(bins):
        members = bins == b
        total += members.mean() * abs(confidence[members].mean() - right[members].mean())
    return total


def brier_score(p: Predictions) -> float:
    """Mean over predictions of the squared distance between the probabilities and the truth."""
    if p.probs is None or not len(p):
        return float("nan")
    truth = np.eye(p.probs.shape[1])[p.y_true.astype(int)]
    return float(np.mean(np.sum((p.probs - truth) ** 2, axis=1)))


def _quantile(cdf: np.ndarray, level: float) -> np.ndarray:
    """The smallest k with F(k) >= level, per row (the CDF head's reading)."""
    steps: np.ndarray = np.minimum((cdf < level).sum(axis=1), cdf.shape[1] - 1).astype(float)
    return steps


def interval_coverage(level: float) -> Metric:
    """The share of true values inside the central `level` interval of the predicted CDF."""

    def coverage(p: Predictions) -> float:
        if p.cdf is None or not len(p):
            return float("nan")
        tail = (1.0 - level) / 2
        lower, upper = _quantile(p.cdf, tail), _quantile(p.cdf, 1.0 - tail)
        return float(np.mean((p.y_true >= lower) & (p.y_true <= upper)))

    def counts(p: Predictions) -> tuple[int, int]:
        return round(coverage(p) * len(p)), len(p)

    return Metric(coverage, counts=counts)


def pit_distance(p: Predictions) -> float:
    """Kolmogorov-Smirnov distance of the mid-step PIT values from the uniform distribution."""
    if p.cdf is None or not len(p):
        return float("nan")
    step = np.clip(np.rint(p.y_true).astype(int), 0, p.cdf.shape[1] - 1)
    rows = np.arange(len(p))
    below = np.where(step > 0, p.cdf[rows, np.maximum(step - 1, 0)], 0.0)
    pit = np.sort(below + (p.cdf[rows, step] - below) / 2)
    n = len(pit)
    return float(max(np.max(np.arange(1, n + 1) / n - pit), np.max(pit - np.arange(n) / n)))


def build_expected_calibration_error(params: object) -> Metric:
    """Expected calibration error of the most probable class (15 bins)."""
    return Metric(expected_calibration_error, higher_is_better=False)


def build_brier_score(params: object) -> Metric:
    """Multi-class Brier score."""
    return Metric(brier_score, higher_is_better=False)


def build_coverage_50(params: object) -> Metric:
    """Share of true percents inside the predicted 50 % interval."""
    return interval_coverage(0.5)


def build_coverage_80(params: object) -> Metric:
    """Share of true percents inside the predicted 80 % interval."""
    return interval_coverage(0.8)


def build_pit_distance(params: object) -> Metric:
    """Distance of the PIT values from uniform."""
    return Metric(pit_distance, higher_is_better=False)
