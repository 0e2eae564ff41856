"""Judging a trained model: predictions of every evaluated split, their metrics with intervals,
the trivial baselines, the reader ceiling, metrics.json and the leaderboard rows.

- A binary run's operating threshold is chosen on the validation split first (`eval.threshold`),
  and every split's decisions use it.
- Baselines: the training split's majority class (or, for a continuous target, its median).
- The reader ceiling: what a model scores that knew the true values behind the noisy labels
  (datasets with a `true_<scale>` column, as the phantom gives).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import torch

from zoo.data.targets import to_target
from zoo.judging import leaderboard, thresholds
from zoo.judging.evaluate import applicable_metrics, build_metric, evaluate, json_number
from zoo.paths import sha256_file
from zoo.predictions import Predictions, to_frame
from zoo.targets import TARGETS
from zoo.training import model as model_io

if TYPE_CHECKING:
    from zoo.training.trainer import Trainer

EXTRA_COLUMNS = ("median", "lower", "upper", "stage")  # head outputs written beside y_pred


def to_predictions(
    target: str,
    targets: torch.Tensor,
    predicted: dict[str, torch.Tensor],
    patients: np.ndarray,
    threshold: float | None = None,
) -> Predictions:
    """A head's predictions as float64 arrays (so the CSV round-trips exactly for `zoo evaluate`).

    With a threshold, a two-class target's decision is P(class 1) >= threshold.
    """
    probs = predicted.get("probs")
    cdf = predicted.get("cdf")
    pred = predicted["pred"].cpu().numpy().astype(float)
    if threshold is not None and probs is not None:
        pred = thresholds.apply(probs[:, 1].cpu().numpy().astype(float), threshold)
    return Predictions(
        target,
        targets.numpy().astype(float),
        pred,
        patients,
        None if probs is None else probs.cpu().numpy().astype(float),
        None if cdf is None else cdf.cpu().numpy().astype(float),
    )


def split_predictions(trainer: Trainer, split: str, threshold: float | None) -> tuple[Predictions, pd.DataFrame]:
    """Predictions of a split and their CSV table."""
    outputs, targets = trainer.outputs(split)
    table = trainer.data.table.iloc[trainer.rows[split]]
    predicted = trainer.model.predict(outputs)
    patients = table["patient_id"].astype(str).to_numpy()
    predictions = to_predictions(trainer.target, targets, predicted, patients, threshold)
    ids = table[[c for c in ("sample_id", "joint") if c in table.columns]]
    frame = to_frame(predictions, ids)
    for extra in EXTRA_COLUMNS:
        if extra in predicted:
            position = cast(int, frame.columns.get_loc("y_pred"))  # an int: the column names are unique
            frame.insert(position + 1, extra, predicted[extra].numpy())
    return predictions, frame


def baselines(trainer: Trainer, predictions: Predictions) -> dict[str, Any]:
    """The trivial predictors: the training set's majority class, or its median value."""
    train = trainer.data.table["target"].to_numpy()[trainer.rows["train"]]
    if TARGETS[trainer.target].whole:
        name, constant = "majority_class", float(np.bincount(train.astype(int)).argmax())
    else:
        name, constant = "constant_median", float(np.median(train))
    trivial = Predictions(trainer.target, predictions.y_true, np.full(len(predictions), constant), predictions.patient)
    specs = applicable_metrics(trainer.registry, trainer.target, set())
    return {
        "predictor": name,
        "value": constant,
        "metrics": {s.name: json_number(build_metric(s)(trivial)) for s in specs},
    }


def choose_threshold(trainer: Trainer) -> dict[str, Any] | None:
    """The operating point of a two-class run from the recipe's rule, on the validation split."""
    rule = trainer.recipe.eval.threshold
    if rule is None or not TARGETS[trainer.target].decision:
        return None
    if isinstance(rule, float):
        value = rule
    else:
        outputs, targets = trainer.outputs("val")
        probs = trainer.model.predict(outputs)["probs"][:, 1].cpu().numpy().astype(float)
        value = thresholds.choose(rule, targets.numpy(), probs)
    return {"rule": thresholds.describe(rule), "value": value, "chosen_on": "val"}


def ceiling(trainer: Trainer, split: str, predictions: Predictions) -> dict[str, Any] | None:
    """The best a model can score against noisy labels: predicting their true values.

    Only for datasets that know the truth behind their labels (a `true_<scale>` column, as the
    phantom gives); None otherwise.
    """
    column = f"true_{trainer.data.scale}"
    if column not in trainer.data.table.columns:
        return None
    truth = trainer.data.table[column].to_numpy(float)[trainer.rows[split]]
    known = np.isfinite(truth)
    oracle = Predictions(
        trainer.target,
        predictions.y_true[known],
        to_target(truth[known], trainer.data.scale, trainer.target),
        predictions.patient[known],
    )
    specs = applicable_metrics(trainer.registry, trainer.target, set())
    return {
        "predictor": "true_label",
        "n": int(known.sum()),
        "metrics": {s.name: json_number(build_metric(s)(oracle)) for s in specs},
    }


def finish(trainer: Trainer, env: dict[str, Any], started: float) -> dict[str, Any]:
    """Save the model, predictions and metrics, append the leaderboard rows; return metrics.json."""
    recipe, run = trainer.recipe, trainer.run
    operating_point = choose_threshold(trainer)
    threshold = None if operating_point is None else float(operating_point["value"])
    config = model_io.model_config(recipe)
    if threshold is not None:
        config["threshold"] = threshold
    model_io.save(trainer.model, run, config)
    results: dict[str, Any] = {
        "run": run.name,
        "recipe": recipe.name,
        "recipe_sha256": recipe.digest(),
        "target": trainer.target,
        "dataset": {
            "name": recipe.data.dataset.name,
            "params": recipe.data.dataset.params,
            "fingerprint": trainer.data.fingerprint(),
        },
        "splits": {},
        "baselines": {},
    }
    if operating_point is not None:
        results["threshold"] = operating_point
    if trainer.empty_splits:
        results["empty_splits"] = trainer.empty_splits
    for split in recipe.eval.splits:
        if len(trainer.rows[split]) == 0:
            continue
        predictions, frame = split_predictions(trainer, split, threshold)
        run.write_predictions(split, frame)
        results["splits"][split] = evaluate(
            predictions, trainer.registry, recipe.eval.metrics, recipe.eval.bootstrap, recipe.seed
        )
        results["baselines"][split] = baselines(trainer, predictions)
        best = ceiling(trainer, split, predictions)
        if best is not None:
            results.setdefault("ceilings", {})[split] = best
    results["training"] = {
        "epochs": len(trainer.history),
        "seconds": round(time.perf_counter() - started, 1),
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "image_size": recipe.data.image_size,
        "device": env["device"],
        "device_name": env["device_name"],
        "weights_sha256": sha256_file(run.weights_file),
    }
    run.write_metrics(results)
    leaderboard.append(leaderboard.store_path(run.path.parent), leaderboard.rows_for_run(recipe, results, env))
    return results
