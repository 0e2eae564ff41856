"""Calibration on the validation split (never the test split's labels), kept in config.json so
that every later prediction (`predict`, `analyze`, `export`, bundles) is calibrated the same way.

- `temperature` (Guo et al. 2017): one number T scales the main head's outputs (a class head's
  logits divided by it, a CDF's logits too: `ScalableHead.scale`), chosen to minimise the negative
  log-likelihood of the labels (of the label's step, for a CDF). It changes the probabilities,
  not their order: a softmax head's most probable class stays; a CORAL head's cumulative logits
  are divided alike, which may move its expected grade slightly.
- `intervals` (CDF heads): T chosen instead so that the 80 % intervals of the joints hold 80 % of
  their labels (the grid value whose coverage is nearest 80 %, the nearer to no change on a
  tie); then a margin in Rau points that widens every visit's 80 % Rau score interval so that
  the validation visits' intervals hold 80 % of the Rau scores of their labels (split conformal
  prediction: the ceil(0.8 (n + 1))-th smallest of how far each labelled score lies outside its
  interval; Romano et al. 2019). Drawn independently, the joints of a visit give an interval too
  narrow where the model's errors on one radiograph go together. config.json keeps
  `temperature` and `rau_margin`.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
from scipy.optimize import minimize_scalar

from zoo.data.targets import to_target
from zoo.judging.progression import rau_coverage, visit_raus
from zoo.protocols import Model
from zoo.runs import Calibration
from zoo.targets import TARGETS
from zoo.trained import SplitOutputs

LOG_RANGE = (math.log(0.05), math.log(20.0))  # the temperatures searched
FLOOR = 1e-12  # the smallest probability a log-likelihood reads
LEVEL = 0.8  # the intervals `intervals` calibrates: the 80 % ones
TEMPERATURE_STEPS = 121  # the grid of temperatures `intervals` tries, even in log T over LOG_RANGE


def negative_log_likelihood(model: Model, split: SplitOutputs, temperature: float) -> float:
    """The mean negative log-likelihood of a split's main-target labels at `temperature` (a CDF's:
    the probability of the label's step, F(y) - F(y - 1))."""
    model.temperature = temperature
    predicted = model.predict(split.outputs)
    rows = np.arange(len(split.targets))
    if "cdf" in predicted:
        cdf = predicted["cdf"].float().numpy().astype(float)
        step = np.clip(np.rint(split.targets).astype(int), 0, cdf.shape[1] - 1)
        picked = cdf[rows, step] - np.where(step > 0, cdf[rows, np.maximum(step - 1, 0)], 0.0)
    else:
        picked = predicted["probs"].float().numpy().astype(float)[rows, split.targets.astype(int)]
    return float(-np.mean(np.log(np.maximum(picked, FLOOR))))


def fit_temperature(model: Model, split: SplitOutputs) -> Calibration:
    """Fit T on `split` (the validation split), set it on `model`, and say what it changed."""
    before = negative_log_likelihood(model, split, 1.0)
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(model, split, math.exp(log_t)), bounds=LOG_RANGE, method="bounded"
    )
    temperature = round(math.exp(float(found.x)), 4)
    after = negative_log_likelihood(model, split, temperature)
    if after > before:  # never worse than no scaling on the split it was fitted on
        temperature, after = 1.0, before
    model.temperature = temperature
    return {
        "method": "temperature",
        "temperature": temperature,
        "fitted_on": "val",
        "val_nll_before": round(before, 6),
        "val_nll_after": round(after, 6),
    }


def interval_coverage(model: Model, split: SplitOutputs, temperature: float) -> float:
    """The share of a split's labels inside their 80 % intervals (`lower`, `upper`) at `temperature`."""
    model.temperature = temperature
    predicted = model.predict(split.outputs)
    lower, upper = (predicted[k].float().numpy() for k in ("lower", "upper"))
    return float(np.mean((split.targets >= lower) & (split.targets <= upper)))


def _nearest(log_t: np.ndarray, coverages: list[float]) -> int:
    """The index of the temperature whose coverage is nearest the intervals' level; on a tie, of
    the one nearest no change (log T = 0)."""
    gaps = np.abs(np.array(coverages) - LEVEL)
    ties = np.flatnonzero(gaps == gaps.min())
    return int(ties[np.argmin(np.abs(log_t[ties]))])


def fit_intervals(model: Model, split: SplitOutputs, seed: int) -> Calibration:
    """Fit T so that `split`'s 80 % intervals hold 80 % of its labels, then the Rau score's margin
    so that its visits' 80 % Rau score intervals hold 80 % of their labels' Rau scores (where the
    split has patients and stages); set T on `model` and say what both changed."""
    log_t = np.linspace(*LOG_RANGE, TEMPERATURE_STEPS)
    before = interval_coverage(model, split, 1.0)
    coverages = [interval_coverage(model, split, math.exp(t)) for t in log_t]
    temperature = round(math.exp(log_t[_nearest(log_t, coverages)]), 4)
    after = interval_coverage(model, split, temperature)
    model.temperature = temperature
    found: Calibration = {
        "method": "intervals",
        "temperature": temperature,
        "fitted_on": "val",
        "val_coverage_80_before": round(before, 4),
        "val_coverage_80_after": round(after, 4),
    }
    target = model.targets[0]
    if "stage" not in TARGETS[target].reachable or "patient_id" not in split.samples.columns:
        return found
    probs = model.predict(split.outputs)["probs"].float().numpy()
    stages = to_target(split.targets, target, "stage")
    visits = visit_raus(split.samples, probs, stages, seed)
    if not len(visits):  # no visit of known labels
        return found
    outside = np.maximum(visits[:, 0] - visits[:, 2], visits[:, 2] - visits[:, 1])  # below 0: inside
    rank = min(len(outside), math.ceil(LEVEL * (len(outside) + 1)))  # split conformal: the ceil(0.8 (n + 1))-th
    margin = math.ceil(float(np.sort(outside)[rank - 1]) * 100) / 100  # rounded up: the visits at it stay inside
    found["rau_margin"] = margin
    inside = [rau_coverage(split.samples, probs, stages, seed, m)["inside_80"] for m in (0.0, margin)]
    found["val_rau_inside_80_before"], found["val_rau_inside_80_after"] = (cast(float, share) for share in inside)
    return found
