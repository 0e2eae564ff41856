"""Judging a trained run: predictions of every evaluated split, their metrics with intervals,
the trivial baselines, the reader ceiling, metrics.json and the leaderboard rows.

`judge` takes the `TrainedRun` training hands over (zoo.trained) and nothing of the trainer:
judging never imports training.

- With `eval.calibrate` (`temperature`, or `intervals` for a CDF model), a temperature (and the
  Rau score interval's margin) is fitted on the validation split first (zoo.judging.calibration)
  and added to the run's config.json; every prediction after uses it.
- A binary run's operating threshold is chosen on the validation split next (`eval.threshold`),
  every split's decisions use it, and it is added to the run's config.json.
- Baselines: the training split's majority class (for a continuous target, its median; for
  landmarks, its mean shape).
- The reader ceiling: what a model scores that knew the true values behind the noisy labels
  (datasets with a `true_<scale>` column, as the phantom gives).
- A multi-target run's extra targets are judged alike, each on its labelled samples
  (`judge_extra`), with a leaderboard row per split and target.
- Where the data has dated visits: the change between visits (zoo.judging.progression).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from zoo.compose.metrics import applicable_metrics, build_metric
from zoo.compose.recipe import Recipe
from zoo.compose.registry import Registry
from zoo.data.targets import to_target
from zoo.judging import leaderboard, thresholds
from zoo.judging.calibration import fit_intervals, fit_temperature
from zoo.judging.evaluate import evaluate, json_number
from zoo.judging.progression import GRADED, JointScores, patient_changes, progression, rau_coverage
from zoo.landmarks import to_pixels
from zoo.predictions import Predictions, to_frame, to_predictions
from zoo.runs import Baseline, Calibration, Ceiling, OperatingPoint, Results, TargetResults
from zoo.targets import TARGETS
from zoo.trained import SplitOutputs, TrainedRun

if TYPE_CHECKING:
    from zoo.protocols import JsonValue

EXTRA_COLUMNS = ("median", "lower", "upper", "stage")  # head outputs written beside y_pred
DEFAULT_THRESHOLD = 0.5  # P(eroded) from which a binary run calls a joint eroded, without eval.threshold


@dataclass(frozen=True)
class Judged:
    """One target of a run as judging reads it: its name, label scale and training labels."""

    target: str
    scale: str
    train_targets: np.ndarray

    @classmethod
    def of(cls, trained: TrainedRun, target: str | None = None) -> Judged:
        """The run's main target, or its extra target `target`."""
        if target is None or target == trained.target:
            return cls(trained.target, trained.scale, trained.train_targets)
        extra = trained.extra_targets[target]
        return cls(target, extra.scale, extra.train_targets[np.isfinite(extra.train_targets)])


def split_predictions(
    trained: TrainedRun,
    split: SplitOutputs,
    threshold: float | None,
    landmarks: list[str] | None = None,
    target: str | None = None,
) -> tuple[Predictions, pd.DataFrame, pd.DataFrame]:
    """Predictions of a split on the main target or an extra one (its labelled samples only),
    their CSV table (a landmarks run's points are named `landmarks`) and the samples they are of."""
    samples, labels = split.samples, split.targets
    if target is None or target == trained.target:
        target, predicted = trained.target, trained.model.predict(split.outputs)
    else:
        known = np.isfinite(split.extra_targets[target])
        samples, labels = samples[known].reset_index(drop=True), split.extra_targets[target][known]
        predicted = {k: v[known] for k, v in trained.model.predict_target(split.outputs, target).items()}
    patients = samples["patient_id"].astype(str).to_numpy()
    points = None if landmarks is None else (samples[["width", "height"]].to_numpy(), landmarks)
    predictions = to_predictions(target, labels, predicted, patients, threshold, points)
    ids = samples[[c for c in ("sample_id", "joint") if c in samples.columns]]
    frame = to_frame(predictions, ids)
    for extra in EXTRA_COLUMNS:
        if extra in predicted:
            position = cast(int, frame.columns.get_loc("y_pred"))  # an int: the column names are unique
            frame.insert(position + 1, extra, predicted[extra].numpy())
    return predictions, frame, samples


def baselines(
    judged: Judged, predictions: Predictions, registry: Registry, samples: pd.DataFrame | None = None
) -> Baseline:
    """The trivial predictors: the training set's majority class, its median value, or (landmarks)
    its mean shape, placed on each image's square as the training images' points were."""
    train, target = judged.train_targets, judged.target
    if TARGETS[target].points:
        assert samples is not None  # a landmarks split's images give the sizes
        mean_shape = np.broadcast_to(train.mean(axis=0), predictions.y_true.shape)
        pixels = to_pixels(mean_shape, samples[["width", "height"]].to_numpy())
        trivial = Predictions(target, predictions.y_true, pixels, predictions.patient, names=predictions.names)
        specs = applicable_metrics(registry, target, trivial.tags())
        return {
            "predictor": "mean_shape",
            "value": None,
            "metrics": {s.name: json_number(build_metric(s)(trivial)) for s in specs},
        }
    if TARGETS[target].whole:
        name, constant = "majority_class", float(np.bincount(train.astype(int)).argmax())
    else:
        name, constant = "constant_median", float(np.median(train))
    trivial = Predictions(target, predictions.y_true, np.full(len(predictions), constant), predictions.patient)
    specs = applicable_metrics(registry, target, set())
    return {
        "predictor": name,
        "value": constant,
        "metrics": {s.name: json_number(build_metric(s)(trivial)) for s in specs},
    }


def choose_threshold(recipe: Recipe, trained: TrainedRun) -> OperatingPoint | None:
    """The operating point of a two-class run from the recipe's rule, on the validation split;
    without a rule, P(eroded) 0.5, stored all the same so that every number says its cut-off."""
    rule = recipe.eval.threshold
    if not TARGETS[trained.target].decision:
        return None
    if rule is None:
        return {"rule": "default", "value": DEFAULT_THRESHOLD, "chosen_on": "none"}
    if isinstance(rule, float):
        value = rule
    else:
        val = trained.splits["val"]
        probs = trained.model.predict(val.outputs)["probs"][:, 1].cpu().numpy().astype(float)
        value = thresholds.choose(rule, val.targets, probs)
    return {"rule": thresholds.describe(rule), "value": value, "chosen_on": "val"}


def ceiling(judged: Judged, samples: pd.DataFrame, predictions: Predictions, registry: Registry) -> Ceiling | None:
    """The best a model can score against noisy labels: predicting their true values.

    Only for datasets that know the truth behind their labels (a `true_<scale>` column, as the
    phantom gives); None otherwise.
    """
    column = f"true_{judged.scale}"
    if column not in samples.columns:
        return None
    truth = samples[column].to_numpy(float)
    known = np.isfinite(truth)
    oracle = Predictions(
        judged.target,
        predictions.y_true[known],
        to_target(truth[known], judged.scale, judged.target),
        predictions.patient[known],
    )
    specs = applicable_metrics(registry, judged.target, set())
    return {
        "predictor": "true_label",
        "n": int(known.sum()),
        "metrics": {s.name: json_number(build_metric(s)(oracle)) for s in specs},
    }


def judge(recipe: Recipe, trained: TrainedRun, registry: Registry) -> Results:
    """Write predictions and metrics.json, append the leaderboard rows; return metrics.json's content."""
    run = trained.folder
    calibration = calibrate(recipe, trained)
    margin = calibration.get("rau_margin", 0.0) if calibration is not None else 0.0
    if calibration is not None:  # before the threshold: it is chosen on the calibrated probabilities
        run.add_to_config({"temperature": calibration["temperature"], **({"rau_margin": margin} if margin else {})})
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
    if calibration is not None:
        results["calibration"] = calibration
    if trained.empty_splits:
        results["empty_splits"] = trained.empty_splits
    main = Judged.of(trained)
    for name in recipe.eval.splits:
        split = trained.splits.get(name)
        if split is None:
            continue
        predictions, frame, samples = split_predictions(trained, split, threshold, recipe.data.landmarks)
        run.write_predictions(name, frame)
        results["splits"][name] = evaluate(
            predictions, registry, recipe.eval.metrics, recipe.eval.bootstrap, recipe.seed
        )
        results["baselines"][name] = baselines(main, predictions, registry, samples)
        best = ceiling(main, samples, predictions, registry)
        if best is not None:
            results.setdefault("ceilings", {})[name] = best
        found = split_progression(trained, split, recipe.seed)
        if found is not None:
            results.setdefault("progression", {})[name] = found[0]
            if len(found[1]):  # no patient with two visits: metrics.json says so, no empty file
                found[1].to_csv(run.progression_file(name), index=False)
        covered = split_rau_coverage(trained, split, recipe.seed, margin)
        if covered is not None:
            results.setdefault("rau", {})[name] = covered
    if trained.extra_targets:
        results["extra_targets"] = {t: judge_extra(recipe, trained, t, registry) for t in trained.extra_targets}
    if trained.ensemble is not None:
        results["ensemble"] = trained.ensemble
    results["training"] = trained.training
    run.write_metrics(results)
    leaderboard.append(leaderboard.store_path(run.path.parent), leaderboard.rows_for_run(recipe, results, trained.env))
    return results


def judge_extra(recipe: Recipe, trained: TrainedRun, target: str, registry: Registry) -> TargetResults:
    """An extra target of a multi-target run, judged like a main one on its labelled samples
    (the metrics the recipe names where they apply to it, else all that do; decisions at 0.5)."""
    judged = Judged.of(trained, target)
    extra = trained.extra_targets[target]
    result: TargetResults = {"scale": extra.scale, "fingerprint": extra.fingerprint, "splits": {}, "baselines": {}}
    for name in recipe.eval.splits:
        split = trained.splits.get(name)
        if split is None:
            continue
        predictions, frame, samples = split_predictions(trained, split, None, target=target)
        trained.folder.write_predictions(name, frame, target)
        named = [m for m in recipe.eval.metrics or [] if m in applicable_names(registry, predictions)] or None
        result["splits"][name] = evaluate(predictions, registry, named, recipe.eval.bootstrap, recipe.seed)
        result["baselines"][name] = baselines(judged, predictions, registry, samples)
        best = ceiling(judged, samples, predictions, registry)
        if best is not None:
            result.setdefault("ceilings", {})[name] = best
    return result


def applicable_names(registry: Registry, predictions: Predictions) -> set[str]:
    """The metrics that can score these predictions."""
    return {spec.name for spec in applicable_metrics(registry, predictions.target, predictions.tags())}


def split_progression(
    trained: TrainedRun, split: SplitOutputs, seed: int
) -> tuple[dict[str, JsonValue], pd.DataFrame] | None:
    """The change between visits of a split's patients (zoo.judging.progression), summed over the
    run's graded targets with class probabilities; None without dated visits or such a target."""
    samples = split.samples
    if not {"patient_id", "date"} <= set(samples.columns):
        return None
    scores: dict[str, JointScores] = {}
    for target in trained.model.targets:
        predicted = trained.model.predict_target(split.outputs, target)
        if target not in GRADED or "probs" not in predicted:
            continue
        scale = Judged.of(trained, target).scale
        reader = split.targets if target == trained.target else split.extra_targets[target]
        second, truth = (_readings(samples, f"{who}_{scale}", scale, target) for who in ("reader2", "true"))
        scores[target] = JointScores(predicted["probs"].float().numpy(), reader, second, truth)
    if not scores:
        return None
    changes, one_visit = patient_changes(samples, scores, seed)
    return progression(changes, one_visit, list(scores), seed), changes


def calibrate(recipe: Recipe, trained: TrainedRun) -> Calibration | None:
    """The recipe's calibration fitted on the validation split and set on the model (None: none)."""
    if recipe.eval.calibrate == "intervals":
        return fit_intervals(trained.model, trained.splits["val"], recipe.seed)
    if recipe.eval.calibrate == "temperature":
        return fit_temperature(trained.model, trained.splits["val"])
    return None


def split_rau_coverage(
    trained: TrainedRun, split: SplitOutputs, seed: int, margin: float = 0.0
) -> dict[str, JsonValue] | None:
    """The coverage of the visits' Rau score intervals (zoo.judging.progression.rau_coverage), for
    a model with stage probabilities on data that knows the truth and the visits, and for a CDF
    model the share of joints whose true value lies in their 80 % interval; else None."""
    samples = split.samples
    predicted = trained.model.predict(split.outputs)
    column = f"true_{trained.scale}"
    stage_scale = trained.scale in TARGETS and "stage" in TARGETS[trained.scale].reachable
    if "probs" not in predicted or trained.target not in ("stage", "percent") or not stage_scale:
        return None
    if column not in samples.columns or not {"patient_id", "date"} <= set(samples.columns):
        return None
    truth = _readings(samples, column, trained.scale, "stage")
    assert truth is not None  # the column is there
    covered = rau_coverage(samples, predicted["probs"].float().numpy(), truth, seed, margin)
    if {"lower", "upper"} <= set(predicted) and trained.scale == trained.target:  # a CDF's joint intervals
        true_values = samples[column].to_numpy(float)
        known = np.isfinite(true_values)
        lower, upper = (predicted[k].float().numpy()[known] for k in ("lower", "upper"))
        inside = (true_values[known] >= lower) & (true_values[known] <= upper)
        covered["joint_inside_80"] = round(float(inside.mean()), 4) if known.any() else None
    return covered


def _readings(samples: pd.DataFrame, column: str, scale: str, target: str) -> np.ndarray | None:
    """A column of readings on `scale` as values of `target` (NaN where missing), or None without it."""
    if column not in samples.columns:
        return None
    values = samples[column].to_numpy(float)
    known = np.isfinite(values)
    converted = np.full(len(values), np.nan)
    converted[known] = to_target(values[known], scale, target)
    return converted
