"""Metrics against scikit-learn and hand-computed cases; intervals; `zoo evaluate`."""

from __future__ import annotations

import inspect
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    mean_absolute_error,
    mean_squared_error,
    recall_score,
    roc_auc_score,
)

from zoo.compose.plugins import get_registry
from zoo.judging.evaluate import confusion, evaluate, patient_bootstrap, wilson
from zoo.predictions import Predictions

RNG = np.random.default_rng(0)


def metric(name: str):
    return get_registry().get("metrics", name).build()


def stage_predictions(n: int = 300) -> Predictions:
    true = RNG.choice(6, n, p=[0.6, 0.25, 0.05, 0.04, 0.03, 0.03]).astype(float)
    pred = np.clip(true + RNG.choice([-1, 0, 0, 0, 1], n), 0, 5)
    return Predictions("stage", true, pred, np.array([f"p{i % 40}" for i in range(n)]))


def test_stage_metrics_match_scikit_learn() -> None:
    p = stage_predictions()
    assert metric("accuracy")(p) == pytest.approx(accuracy_score(p.y_true, p.y_pred))
    assert metric("class_normalised_accuracy")(p) == pytest.approx(balanced_accuracy_score(p.y_true, p.y_pred))
    kappa = cohen_kappa_score(p.y_true.astype(int), p.y_pred.astype(int), weights="quadratic")
    assert metric("quadratic_weighted_kappa")(p) == pytest.approx(kappa)
    within = np.mean([np.mean(np.abs(p.y_pred[p.y_true == c] - c) <= 1) for c in np.unique(p.y_true)])
    assert metric("class_normalised_accuracy_pm1")(p) == pytest.approx(within)


def test_class_normalised_accuracy_hand_computed() -> None:
    # class 0: 3 of 4 right; class 2: 1 of 2 right; class 5 has one sample, wrong -> (0.75 + 0.5 + 0) / 3
    p = Predictions("stage", np.array([0, 0, 0, 0, 2, 2, 5.0]), np.array([0, 0, 0, 1, 2, 3, 4.0]), np.array(["a"] * 7))
    assert metric("class_normalised_accuracy")(p) == pytest.approx((0.75 + 0.5 + 0) / 3)
    assert metric("class_normalised_accuracy_pm1")(p) == pytest.approx((1 + 1 + 1) / 3)


def test_percent_and_binary_metrics_match_scikit_learn() -> None:
    true, pred = RNG.uniform(0, 100, 200), RNG.uniform(0, 100, 200)
    p = Predictions("percent", true, pred, np.arange(200).astype(str))
    assert metric("mse")(p) == pytest.approx(mean_squared_error(true, pred))
    assert metric("mae")(p) == pytest.approx(mean_absolute_error(true, pred))
    y = RNG.integers(0, 2, 200).astype(float)
    score = np.clip(y * 0.3 + RNG.uniform(0, 0.7, 200), 0, 1)
    b = Predictions(
        "binary", y, (score > 0.5).astype(float), np.arange(200).astype(str), np.stack([1 - score, score], 1)
    )
    assert metric("roc_auc")(b) == pytest.approx(roc_auc_score(y, score))
    assert metric("sensitivity")(b) == pytest.approx(recall_score(y, b.y_pred))
    assert metric("specificity")(b) == pytest.approx(recall_score(1 - y, 1 - b.y_pred))
    assert metric("balanced_accuracy")(b) == pytest.approx(balanced_accuracy_score(y, b.y_pred))


def test_crps_hand_computed() -> None:
    cdf = np.tile((np.arange(101) >= 10).astype(float), (2, 1))
    p = Predictions("percent", np.array([20.0, 10.0]), np.array([10.0, 10.0]), np.array(["a", "b"]), cdf=cdf)
    assert metric("crps")(p) == pytest.approx((10 / 101 + 0) / 2)


def test_wilson_hand_computed() -> None:
    low, high = wilson(8, 10)  # p = 0.8, n = 10, z = 1.96: (0.4902, 0.9433)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and math.isnan(wilson(0, 0)[0])


def test_wilson_matches_newcombes_published_intervals() -> None:
    # Newcombe (1998), Stat Med 17:857, table I, method 3 (the Wilson score interval)
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4) and wilson(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson(0, 0))
    assert all(type(v) is float for v in wilson(3, 7)), "plain floats, for JSON"
    assert list(inspect.signature(wilson).parameters) == ["successes", "trials"], "always 95 %"


def test_confusion_matrix_is_normalised_per_true_class_with_zero_rows_for_absent_classes() -> None:
    p = Predictions("stage", np.array([0, 0, 0, 2, 5.0]), np.array([0, 1, 1, 2, 4.0]), np.array(["a"] * 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # absent classes (rows of zeros) are not worth a warning
        matrix = confusion(p, 6)
    assert matrix == [
        [0.3333, 0.6667, 0.0, 0.0, 0.0, 0.0],
        [0.0] * 6,
        [0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
        [0.0] * 6,
        [0.0] * 6,
        [0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    ]
    assert all(type(v) is float for row in matrix for v in row)
    binary = Predictions("binary", np.array([1, 1, 1.0]), np.array([0, 1, 1.0]), np.array(["a"] * 3))
    assert confusion(binary, 2) == [[0.0, 0.0], [0.3333, 0.6667]]


def test_class_normalised_accuracy_scores_only_the_true_classes_and_never_warns() -> None:
    # stages 1 and 4 are predicted but never true: they are not classes of the data
    true, pred = np.array([0, 0, 0, 2, 2, 3.0]), np.array([0, 1, 4, 2, 2, 4.0])
    p = Predictions("stage", true, pred, np.array(["a"] * 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # balanced_accuracy_score warns here ("y_pred contains classes not in y_true")
        value = metric("class_normalised_accuracy")(p)
        within = metric("class_normalised_accuracy_pm1")(p)
    assert value == np.mean(recall_score(true, pred, labels=[0, 2, 3], average=None)) == (1 / 3 + 1 + 0) / 3
    assert within == (2 / 3 + 1 + 1) / 3


def test_bootstrap_resamples_patients_and_is_seeded() -> None:
    p = stage_predictions()
    accuracy = {"accuracy": metric("accuracy")}
    first, undefined = patient_bootstrap(p, accuracy, 200, seed=1)["accuracy"]
    assert (first, undefined) == patient_bootstrap(p, accuracy, 200, seed=1)["accuracy"]
    assert first[0] < metric("accuracy")(p) < first[1]
    assert undefined == 0, "accuracy is defined on every resample"
    one_patient = Predictions("stage", p.y_true, p.y_pred, np.array(["same"] * len(p)))
    (low, high), _ = patient_bootstrap(one_patient, accuracy, 50, seed=1)["accuracy"]
    assert low == high, "with one patient every resample is the same patient"


def test_evaluate_applies_what_fits_the_target() -> None:
    result = evaluate(stage_predictions(), get_registry(), resamples=20)
    assert set(result["metrics"]) == {
        "accuracy",
        "class_normalised_accuracy",
        "class_normalised_accuracy_pm1",
        "quadratic_weighted_kappa",
    }
    assert "wilson_95" in result["metrics"]["accuracy"] and "bootstrap_95" in result["metrics"]["accuracy"]
    assert len(result["confusion_matrix"]) == 6 and all(
        abs(sum(r) - 1) < 1e-3 or sum(r) == 0 for r in result["confusion_matrix"]
    )


def predictions_csv(folder: Path, text: str) -> Path:
    return write(folder / "p.csv", text)


@pytest.mark.parametrize(
    ("text", "target", "message"),
    [
        ("y_true,prediction\n1,1\n", "stage", "missing column(s) y_pred"),
        ("y_true,y_pred\n1,\n", "stage", "missing or non-numeric"),
        ("y_true,y_pred\n1,7\n", "stage", "outside 0..5"),
        ("y_true,y_pred\n1.5,1\n", "stage", "whole classes"),
        ("y_true,y_pred\n", "stage", "no rows"),
        (
            "y_true,y_pred," + ",".join(f"cdf_{k}" for k in range(50)) + "\n" + "1,1," + ",".join(["0.5"] * 50) + "\n",
            "percent",
            "exactly the columns cdf_0..cdf_100",
        ),
        ("y_true,y_pred,p_0,p_1\n1,1,0.5,0.5\n", "stage", "need p_0..p_5"),
    ],
)
def test_evaluate_rejects_malformed_files(zoo, tmp_path: Path, text: str, target: str, message: str) -> None:
    result = zoo("evaluate", str(predictions_csv(tmp_path, text)), "--target", target)
    assert result.code == 2 and message in result.err, result.err
    assert len([line for line in result.err.splitlines() if line.startswith("Error:")]) == 1
    assert "Traceback" not in result.err


def test_evaluate_scores_a_file_made_elsewhere(zoo, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c"],
            "y_true": [0, 1, 1, 0],
            "y_pred": [0, 1, 0, 0],
            "p_1": [0.1, 0.9, 0.4, 0.2],
        }
    )
    frame.to_csv(tmp_path / "mine.csv", index=False)
    result = zoo("evaluate", str(tmp_path / "mine.csv"), "--target", "binary", "--json", "--bootstrap", "10")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["metrics"]["accuracy"]["value"] == 0.75 and data["metrics"]["roc_auc"]["value"] == 1.0
    assert data["patients"] == 3
    table = zoo("evaluate", str(tmp_path / "mine.csv"), "--target", "binary", "--bootstrap", "10")
    assert table.code == 0 and "sensitivity" in table.out and "confusion matrix" in table.out
