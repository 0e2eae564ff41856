"""Temperature scaling (Guo et al. 2017): one number T divides the main head's logits, chosen to
minimise the negative log-likelihood of the validation split's labels (never the test split's).

It changes the probabilities, not their order: a softmax head's most probable class stays; a
CORAL head's cumulative logits are divided alike, which may move its expected grade slightly.
The run's config.json keeps T, so every later prediction (`predict`, `analyze`, `export`,
bundles) is calibrated the same way.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar

from zoo.protocols import Model
from zoo.runs import Calibration
from zoo.trained import SplitOutputs

LOG_RANGE = (math.log(0.05), math.log(20.0))  # the temperatures searched
FLOOR = 1e-12  # the smallest probability a log-likelihood reads


def negative_log_likelihood(model: Model, split: SplitOutputs, temperature: float) -> float:
    """The mean negative log-likelihood of a split's main-target labels at `temperature`."""
    model.temperature = temperature
    probs = model.predict(split.outputs)["probs"].float().numpy().astype(float)
    picked = probs[np.arange(len(probs)), split.targets.astype(int)]
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
