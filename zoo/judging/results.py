"""Judging a trained run: predictions of every evaluated split, their metrics with intervals,
the trivial baselines, the reader ceiling, metrics.json and the leaderboard rows.

`judge` takes the `TrainedRun` training hands over (zoo.trained) and nothing of the trainer:
judging never imports training.

- A binary run's operating threshold is chosen on the validation split first (`eval.threshold`),
  every split's decisions use it, and it is added to the run's config.json.
- Baselines: the training split's majority class (for a continuous target, its median; for
  landmarks, its mean shape).
- The reader ceiling: what a model scores that knew the true values behind the noisy labels
  (datasets with a `true_<scale>` column, as the phantom gives).
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from zoo.compose.metrics import applicable_metrics, build_metric
from zoo.compose.recipe import Recipe
from zoo.compose.registry import Registry
from zoo.data.targets import to_target
from zoo.judging import leaderboard, thresholds
from zoo.judging.evaluate import evaluate, json_number
from zoo.landmarks import to_pixels
from zoo.predictions import Predictions, to_frame, to_predictions
from zoo.runs import Baseline, Ceiling, OperatingPoint, Results
from zoo.targets import TARGETS
from zoo.trained import SplitOutputs, TrainedRun

EXTRA_COLUMNS = ("median", "lower", "upper", "stage")  # head outputs written beside y_pred


def split_predictions(
    trained: TrainedRun, split: SplitOutputs, threshold: float | None, landmarks: list[str] | None = None
) -> tuple[Predictions, pd.DataFrame]:
    """Predictions of a split and their CSV table (a landmarks run's points are named `landmarks`)."""
    samples = split.samples
    predicted = trained.model.predict(split.outputs)
    patients = samples["patient_id"].astype(str).to_numpy()
    points = None if landmarks is None else (samples[["width", "height"]].to_numpy(), landmarks)
    predictions = to_predictions(trained.target, split.targets, predicted, patients, threshold, points)
    ids = samples[[c for c in ("sample_id", "joint") if c in samples.columns]]
    frame = to_frame(predictions, ids)
    for extra in EXTRA_COLUMNS:
        if extra in predicted:
            position = cast(int, frame.columns.get_loc("y_pred"))  # an int: the column names are unique
            frame.insert(position + 1, extra, predicted[extra].numpy())
    return predictions, frame


def baselines(
    trained: TrainedRun, predictions: Predictions, registry: Registry, samples: pd.DataFrame | None = None
) -> Baseline:
    """The trivial predictors: the training set's majority class, its median value, or (landmarks)
    its mean shape, placed on each image's square as the training images' points were."""
    train = trained.train_targets
    if TARGETS[trained.target].points:
        assert samples is not None  # a landmarks split's images give the sizes
        mean_shape = np.broadcast_to(train.mean(axis=0), predictions.y_true.shape)
        pixels = to_pixels(mean_shape, samples[["width", "height"]].to_numpy())
        trivial = Predictions(
            trained.target, predictions.y_true, pixels, predictions.patient, names=predictions.names
        )
        specs = applicable_metrics(registry, trained.target, trivial.tags())
        return {
            "predictor": "mean_shape",
            "value": None,
            "metrics": {s.name: json_number(build_metric(s)(trivial)) for s in specs},
        }
    if TARGETS[trained.target].whole:
        name, constant = "majority_class", float(np.bincount(train.astype(int)).argmax())
    else:
        name, constant = "constant_median", float(np.median(train))
    trivial = Predictions(trained.target, predictions.y_true, np.full(len(predictions), constant), predictions.patient)
    specs = applicable_metrics(registry, trained.target, set())
    return {
        "predictor": name,
        "value": constant,
        "metrics": {s.name: json_number(build_metric(s)(trivial)) for s in specs},
    }


def choose_threshold(recipe: Recipe, trained: TrainedRun) -> OperatingPoint | None:
    """The operating point of a two-class run from the recipe's rule, on the validation split."""
    rule = recipe.eval.threshold
    if rule is None or not TARGETS[trained.target].decision:
        return None
    if isinstance(rule, float):
        value = rule
    else:
        val = trained.splits["val"]
        probs = trained.model.predict(val.outputs)["probs"][:, 1].cpu().numpy().astype(float)
        value = thresholds.choose(rule, val.targets, probs)
    return {"rule": thresholds.describe(rule), "value": value, "chosen_on": "val"}


def ceiling(
    trained: TrainedRun, split: SplitOutputs, predictions: Predictions, registry: Registry
) -> Ceiling | None:
    """The best a model can score against noisy labels: predicting their true values.

    Only for datasets that know the truth behind their labels (a `true_<scale>` column, as the
    phantom gives); None otherwise.
    """
    column = f"true_{trained.scale}"
    if column not in split.samples.columns:
        return None
    truth = split.samples[column].to_numpy(float)
    known = np.isfinite(truth)
    oracle = Predictions(
        trained.target,
        predictions.y_true[known],
        to_target(truth[known], trained.scale, trained.target),
        predictions.patient[known],
    )
    specs = applicable_metrics(registry, trained.target, set())
    return {
        "predictor": "true_label",
        "n": int(known.sum()),
        "metrics": {s.name: json_number(build_metric(s)(oracle)) for s in specs},
    }


def judge(recipe: Recipe, trained: TrainedRun, registry: Registry) -> Results:
    """Write predictions and metrics.json, append the leaderboard rows; return metrics.json's content."""
    run = trained.folder
    operating_point = choose_threshold(recipe, trained)
    threshold = None if operating_point is None else float(operating_point["value"])
    if threshold is not None:
        run.add_to_config({"threshold": threshold})
    results: Results = {
        "run": run.name,
        "recipe": recipe.name,
        "recipe_sha256": recipe.digest(),
        "target": trained.target,
        "dataset": {
            "name": recipe.data.dataset.name,
            "params": recipe.data.dataset.params,
            "fingerprint": trained.fingerprint,
        },
        "splits": {},
        "baselines": {},
    }
    if operating_point is not None:
        results["threshold"] = operating_point
    if trained.empty_splits:
        results["empty_splits"] = trained.empty_splits
    for name in recipe.eval.splits:
        split = trained.splits.get(name)
        if split is None:
            continue
        predictions, frame = split_predictions(trained, split, threshold, recipe.data.landmarks)
        run.write_predictions(name, frame)
        results["splits"][name] = evaluate(
            predictions, registry, recipe.eval.metrics, recipe.eval.bootstrap, recipe.seed
        )
        results["baselines"][name] = baselines(trained, predictions, registry, split.samples)
        best = ceiling(trained, split, predictions, registry)
        if best is not None:
            results.setdefault("ceilings", {})[name] = best
    results["training"] = trained.training
    run.write_metrics(results)
    leaderboard.append(leaderboard.store_path(run.path.parent), leaderboard.rows_for_run(recipe, results, trained.env))
    return results
