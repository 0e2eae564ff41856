"""The metrics of the thesis (section 4) and the RA literature, on `Predictions` arrays.

Stages: accuracy, class-normalised accuracy (mean recall over the classes present),
class-normalised accuracy within +-1 stage, quadratic weighted kappa. Percent: MSE, MAE, CRPS
(the thesis formula, from the predicted CDF). Binary: accuracy, balanced accuracy, ROC AUC,
sensitivity, specificity. A metric that is undefined on the data (e.g. ROC AUC with one class)
is NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import cohen_kappa_score, recall_score, roc_auc_score

from zoo.predictions import Predictions

Counts = Callable[[Predictions], tuple[int, int]]


class Metric:
    """A metric: `metric(predictions) -> float`, its direction, its counts when it is a
    proportion (successes, trials), which give it a Wilson interval, and whether it is defined
    only when every true class of the data is present (a bootstrap resample that lacks one is
    left out of its interval, not scored as something else)."""

    def __init__(
        self,
        function: Callable[[Predictions], float],
        higher_is_better: bool = True,
        counts: Counts | None = None,
        needs_every_class: bool = False,
    ) -> None:
        self.function = function
        self.higher_is_better = higher_is_better
        self.counts = counts
        self.needs_every_class = needs_every_class

    def __call__(self, predictions: Predictions) -> float:
        return float(self.function(predictions))


def _hits(p: Predictions) -> tuple[int, int]:
    return int(np.sum(p.y_pred == p.y_true)), len(p)


def _recalls(p: Predictions, within: int = 0) -> np.ndarray:
    """The recall of each true class present (scikit-learn's), a prediction within `within` stages
    of the truth counting as right. Only classes present are scored, so none divides by zero."""
    true, pred = p.y_true.astype(int), p.y_pred.astype(int)
    if within:
        pred = np.where(np.abs(pred - true) <= within, true, pred)
    return np.asarray(recall_score(true, pred, labels=np.unique(true), average=None), dtype=float)


def _class_counts(cls: int) -> Counts:
    def counts(p: Predictions) -> tuple[int, int]:
        members = p.y_true == cls
        return int(np.sum(p.y_pred[members] == cls)), int(members.sum())

    return counts


def _recall_of(cls: int) -> Callable[[Predictions], float]:
    def recall(p: Predictions) -> float:
        members = p.y_true == cls
        return float(np.mean(p.y_pred[members] == cls)) if members.any() else float("nan")

    return recall


def _kappa(p: Predictions) -> float:
    if len(np.unique(np.concatenate([p.y_true, p.y_pred]))) < 2:
        return float("nan")
    return float(cohen_kappa_score(p.y_true.astype(int), p.y_pred.astype(int), weights="quadratic"))


def _roc_auc(p: Predictions) -> float:
    if p.probs is None or len(np.unique(p.y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(p.y_true.astype(int), p.probs[:, 1]))


def crps(p: Predictions) -> float:
    """1/(101 N) sum_n sum_k (F_n(k) - H(k - y_n))^2."""
    if p.cdf is None:
        return float("nan")
    steps = (np.arange(p.cdf.shape[1])[None, :] >= p.y_true[:, None]).astype(float)
    return float(np.mean((p.cdf - steps) ** 2))


def build_accuracy(params: object) -> Metric:
    """Share of exactly right predictions."""
    return Metric(lambda p: np.mean(p.y_pred == p.y_true), counts=_hits)


def build_class_normalised_accuracy(params: object) -> Metric:
    """Mean recall over the classes present (the thesis's class-normalised accuracy)."""
    return Metric(lambda p: np.mean(_recalls(p)), needs_every_class=True)


def build_class_normalised_accuracy_pm1(params: object) -> Metric:
    """Mean over the classes present of the share predicted within one stage."""
    return Metric(lambda p: np.mean(_recalls(p, within=1)), needs_every_class=True)


def build_quadratic_weighted_kappa(params: object) -> Metric:
    """Cohen's kappa with quadratic weights."""
    return Metric(_kappa, needs_every_class=True)


def build_mse(params: object) -> Metric:
    """Mean squared error of the predicted percent."""
    return Metric(lambda p: np.mean((p.y_pred - p.y_true) ** 2), higher_is_better=False)


def build_mae(params: object) -> Metric:
    """Mean absolute error of the predicted percent."""
    return Metric(lambda p: np.mean(np.abs(p.y_pred - p.y_true)), higher_is_better=False)


def build_crps(params: object) -> Metric:
    """The thesis's CRPS of the predicted CDF."""
    return Metric(crps, higher_is_better=False)


def build_roc_auc(params: object) -> Metric:
    """Area under the ROC curve of P(eroded)."""
    return Metric(_roc_auc, needs_every_class=True)


def build_sensitivity(params: object) -> Metric:
    """Recall of the eroded class."""
    return Metric(_recall_of(1), counts=_class_counts(1))


def build_specificity(params: object) -> Metric:
    """Recall of the healthy class."""
    return Metric(_recall_of(0), counts=_class_counts(0))
