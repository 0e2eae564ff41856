"""Operating thresholds for binary targets: chosen on validation, stored, and used everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import phantom_crops, write
from test_training import TINY, only_run

from zoo.compose.recipe import TargetRate
from zoo.judging import thresholds
from zoo.predictions import decide

Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
P = np.array([0.05, 0.2, 0.35, 0.6, 0.4, 0.7, 0.8, 0.9])


def test_rules_pick_their_points_on_the_roc_curve() -> None:
    assert thresholds.choose(None, Y, P) == 0.5
    assert thresholds.choose(0.3, Y, P) == 0.3
    youden = thresholds.choose("youden", Y, P)
    predicted = decide(P, youden)
    assert youden == 0.7, "sensitivity 3/4 + specificity 4/4 - 1 = 0.75 is the best"
    assert ((predicted == 1) & (Y == 1)).sum() / 4 + ((predicted == 0) & (Y == 0)).sum() / 4 - 1 == pytest.approx(0.75)
    sensitive = thresholds.choose(TargetRate(sensitivity=1.0), Y, P)
    assert sensitive == 0.4 and decide(P, sensitive)[Y == 1].all(), "the highest threshold reaching it"
    specific = thresholds.choose(TargetRate(specificity=1.0), Y, P)
    assert specific == 0.7 and not decide(P, specific)[Y == 0].any(), "the lowest threshold reaching it"


def test_one_class_on_validation_is_a_clear_error() -> None:
    from zoo.errors import UsageError

    with pytest.raises(UsageError, match="only one class"):
        thresholds.choose("youden", np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]))


def test_threshold_needs_a_binary_target_and_a_valid_rule(zoo, tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", TINY.replace("EPOCHS", "1"))
    stage = zoo("validate", str(recipe), "--set", "eval.threshold=youden")
    assert stage.code == 2 and "an operating threshold is for binary targets" in stage.err
    for bad in ("eval.threshold=1.5", "eval.threshold=best", "eval.threshold={sensitivity: 0.9, specificity: 0.9}"):
        result = zoo("validate", str(recipe), "--set", "data.target=binary", "--set", bad)
        assert result.code == 2 and "eval.threshold" in result.err, bad


def test_a_youden_run_stores_and_uses_its_threshold(zoo, tmp_path: Path) -> None:
    text = TINY.replace("EPOCHS", "2").replace("target: stage", "target: binary")
    text = text.replace("early_stopping: {monitor: val_class_normalised_accuracy, patience: 5}", "")
    text = text.replace("eval: {bootstrap: 20}", "eval: {bootstrap: 20, threshold: youden}")
    result = zoo("run", str(write(tmp_path / "b.yaml", text)), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err[-1500:]
    folder = only_run(tmp_path / "runs")
    metrics = json.loads((folder / "metrics.json").read_text())
    point = metrics["threshold"]
    assert point["rule"] == "youden" and point["chosen_on"] == "val" and 0 <= point["value"] <= 1
    assert json.loads((folder / "config.json").read_text())["threshold"] == point["value"]
    test = pd.read_csv(folder / "predictions-test.csv")
    assert (test["y_pred"] == (test["p_1"] >= point["value"]).astype(float)).all()
    again = zoo(
        "evaluate", str(folder / "predictions-test.csv"), "--target", "binary", "--json",
        "--bootstrap", "20", "--seed", "3", "--threshold", str(point["value"]),
    )
    scored = json.loads(again.out)
    assert scored.pop("threshold") == {"rule": str(point["value"]), "value": point["value"], "chosen_on": "given"}
    assert scored == metrics["splits"]["test"], "evaluate --threshold reproduces the run"
    named = zoo("evaluate", str(folder / "predictions-test.csv"), "--bootstrap", "20")  # the run's file says its target
    assert named.code == 0 and "balanced_accuracy" in named.out.replace("bal.acc", "balanced_accuracy"), named.err
    youden = zoo("evaluate", str(folder / "predictions-test.csv"), "--threshold", "youden", "--bootstrap", "20")
    assert youden.code == 0 and "(youden, chosen on these predictions: optimistic)" in youden.out
    crops = phantom_crops(8)
    joints = json.loads(zoo("predict", str(folder), *map(str, crops), "--format", "json").out)["joints"]
    assert all(j["eroded"] == float(j["p_eroded"] >= point["value"]) for j in joints), "predict uses it too"
    exported = zoo("export", str(folder), "--out", str(tmp_path / "m.onnx"))
    assert exported.code == 0, exported.err[-800:]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    image = np.random.default_rng(2).random((16, 1, 64, 64), dtype=np.float32)
    pred, probs = session.run(["pred", "probs"], {"image": image})
    assert (pred == (probs[:, 1] >= point["value"])).all(), "the exported model decides at the run's threshold"


def test_a_binary_run_without_a_rule_stores_and_prints_its_default_cut_off(zoo, tmp_path: Path) -> None:
    text = TINY.replace("EPOCHS", "1").replace("target: stage", "target: binary")
    text = text.replace("early_stopping: {monitor: val_class_normalised_accuracy, patience: 5}", "")
    result = zoo("run", str(write(tmp_path / "b.yaml", text)), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err[-1500:]
    folder = only_run(tmp_path / "runs")
    assert json.loads((folder / "metrics.json").read_text())["threshold"] == {
        "rule": "default", "value": 0.5, "chosen_on": "none"
    }
    assert json.loads((folder / "config.json").read_text())["threshold"] == 0.5
    assert "operating threshold: a joint counts as eroded from P(eroded) 0.5 (the default)" in result.out
    assert (pd.read_csv(folder / "history.csv")["val_threshold"] == 0.5).all(), "the epochs' cut-off is said too"


def test_evaluate_refuses_a_bad_threshold_and_a_file_that_does_not_say_its_target(zoo, tmp_path: Path) -> None:
    csv = write(tmp_path / "p.csv", "y_true,y_pred,p_0,p_1\n0,0,0.9,0.1\n1,1,0.2,0.8\n")
    unnamed = zoo("evaluate", str(csv))
    assert unnamed.code == 2 and "does not say its target" in unnamed.err and "--target" in unnamed.err
    bad = zoo("evaluate", str(csv), "--target", "binary", "--threshold", "best")
    assert bad.code == 2 and "neither a probability between 0 and 1 nor 'youden'" in bad.err
