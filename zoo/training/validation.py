"""An epoch's validation metrics: the main target's, and each extra target's on its labelled samples."""

from __future__ import annotations

import numpy as np
import torch

from zoo.predictions import to_predictions
from zoo.protocols import Metric
from zoo.targets import TARGETS
from zoo.training.model import ZooModel

EPOCH_THRESHOLD = 0.5  # P(eroded) from which a binary model's validation decisions count a joint eroded, every epoch


def validation_metrics(
    model: ZooModel,
    metrics: dict[str, Metric],
    extra_metrics: dict[str, dict[str, Metric]],
    outputs: torch.Tensor,
    targets: torch.Tensor,
    patients: np.ndarray,
    points: tuple[np.ndarray, list[str]] | None,
) -> dict[str, float]:
    """`val_<metric>` of the main target and `val_<target>_<metric>` of each extra one (a
    multi-target run's `targets` are a (N, T) matrix, NaN where an extra label is missing)."""
    main = targets[:, 0] if extra_metrics else targets
    predictions = to_predictions(model.targets[0], main, model.predict(outputs), patients, points=points)
    values = {f"val_{name}": metric(predictions) for name, metric in metrics.items()}
    if TARGETS[model.targets[0]].decision:  # judging may choose another cut-off after training: say this one
        values["val_threshold"] = EPOCH_THRESHOLD
    for column, (target, named) in enumerate(extra_metrics.items(), start=1):
        known = torch.isfinite(targets[:, column]).numpy()
        predicted = {k: v[known] for k, v in model.predict_target(outputs, target).items()}
        labelled = to_predictions(target, targets[known, column], predicted, patients[known])
        values.update({f"val_{target}_{name}": metric(labelled) for name, metric in named.items()})
    return values
