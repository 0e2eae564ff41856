"""Numbers a user relies on: string patient ids, bootstrap resamples that cannot be scored, a Rau
score inside its interval, and predictions files that are not what they claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from zoo.compose.plugins import get_registry
from zoo.errors import UsageError
from zoo.judging.evaluate import evaluate
from zoo.predictions import Predictions, read_predictions, to_frame
from zoo.using.visits import by_visit


def _binary(patients: list[str], y_true: list[int], p1: list[float]) -> Predictions:
    probs = np.array([[1 - p, p] for p in p1])
    return Predictions("binary", np.array(y_true, float), (probs[:, 1] > 0.5).astype(float), np.array(patients), probs)


def test_leading_zero_ids_stay_apart_and_evaluate_reproduces_the_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    patients = [pid for pid in ("016", "16", "0029", "29", "7", "007", "3", "12") for _ in range(5)]
    y_true = rng.integers(0, 2, len(patients)).tolist()
    run = _binary(patients, y_true, rng.random(len(patients)).tolist())
    to_frame(run).to_csv(tmp_path / "predictions-test.csv", index=False)
    read = read_predictions(tmp_path / "predictions-test.csv", "binary")
    assert sorted(set(read.patient)) == sorted(set(patients)), "'016' and '16' are two patients"
    registry = get_registry()
    assert evaluate(read, registry, None, 200, 3) == evaluate(run, registry, None, 200, 3)


def test_resamples_without_both_classes_are_left_out_and_counted() -> None:
    # one eroded patient among healthy ones; the model always says "eroded"
    patients = [f"p{i}" for i in range(8) for _ in range(3)]
    y_true = [1] * 3 + [0] * 21
    always = _binary(patients, y_true, [0.9] * 24)
    result = evaluate(always, get_registry(), None, 300, 0)["metrics"]
    balanced = result["balanced_accuracy"]
    assert balanced["value"] == 0.5
    assert balanced["bootstrap_95"] == [0.5, 0.5], "never 1.0 from a resample of eroded joints only"
    assert 0 < balanced["bootstrap_undefined"] < 300
    assert result["roc_auc"]["bootstrap_undefined"] == balanced["bootstrap_undefined"]
    assert result["accuracy"]["bootstrap_undefined"] == 0


def test_rau_score_lies_inside_its_interval() -> None:
    # each joint 40 % likely stage 5, else stage 0: the most probable stages would say Rau 190
    joints = pd.DataFrame({
        "patient_id": ["a"] * 3, "joint": ["mcp1", "mcp2", "mcp3"], "status": ["ok"] * 3, "stage": [5] * 3,
        **{f"p_stage_{k}": [0.6 if k == 0 else 0.4 if k == 5 else 0.0] * 3 for k in range(6)},
    })  # fmt: skip
    visit = by_visit(joints).iloc[0]
    assert visit["rau_low80"] <= visit["rau_score"] <= visit["rau_high80"]
    assert visit["rau_score"] < 190
    rng = np.random.default_rng(1)
    for _ in range(20):
        probs = rng.dirichlet(np.ones(6) * 0.3, size=10)
        table = pd.DataFrame({"patient_id": "b", "joint": [f"j{i}" for i in range(10)], "status": "ok", "stage": probs.argmax(1)})
        for k in range(6):
            table[f"p_stage_{k}"] = probs[:, k]
        row = by_visit(table).iloc[0]
        assert row["rau_low80"] <= row["rau_score"] <= row["rau_high80"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("patient_id,y_true,y_pred\n,0,0\np1,1,1\n", r"1 row\(s\) without a patient_id \(first: row 2\)"),
        ("y_true,y_pred," + ",".join(f"p_{k}" for k in range(6)) + "\n0,0,0.5,0.2,0,0,0,0\n", "do not sum to 1"),
    ],
)
def test_bad_stage_predictions_are_one_clear_error(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "p.csv").write_text(body)
    with pytest.raises(UsageError, match=message):
        read_predictions(tmp_path / "p.csv", "stage")


def test_a_cdf_that_falls_is_refused(tmp_path: Path) -> None:
    cdf = np.linspace(0, 1, 101)
    cdf[50] = 0.1
    frame = pd.DataFrame([[40.0, 40.0, *cdf]], columns=["y_true", "y_pred", *[f"cdf_{k}" for k in range(101)]])
    frame.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(UsageError, match="a CDF never decreases"):
        read_predictions(tmp_path / "p.csv", "percent")


def test_evaluate_cli_reports_a_blank_patient_id(zoo, tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("patient_id,y_true,y_pred\n p1 ,0,0\n  ,1,1\n")
    result = zoo("evaluate", str(tmp_path / "p.csv"), "--target", "binary")
    assert result.code == 2
    assert result.err.count("Error:") == 1 and "without a patient_id" in result.err


def test_an_infinite_learning_rate_is_refused_before_training(zoo, tmp_path: Path) -> None:
    from test_training import tiny

    result = zoo("validate", str(tiny(tmp_path)), "--set", "train.optimizer.lr=.inf")
    assert result.code == 2 and "train.optimizer.lr" in result.err


def test_a_loss_that_becomes_nan_stops_the_run_and_keeps_the_checkpoint(zoo, tmp_path: Path) -> None:
    from test_training import only_run, tiny

    runs = tmp_path / "runs"
    result = zoo("run", str(tiny(tmp_path, epochs=3)), "--runs-dir", str(runs), "--set", "train.optimizer.lr=1e30")
    assert result.code == 1, result.err[-1500:]
    assert "the training loss became nan" in result.err or "the training loss became inf" in result.err
    assert "zoo run --resume" in result.err and result.err.count("Error:") == 1
    folder = only_run(runs)
    assert (folder / "checkpoint" / "latest.json").is_file(), "the last finite checkpoint is kept"
    assert not (folder / "metrics.json").exists() and not (runs / "leaderboard.jsonl").exists()


def test_losses_read_in_a_block_name_the_first_non_finite_step(tmp_path: Path) -> None:
    from zoo.training.trainer import NonFiniteLoss, read_losses

    assert read_losses([torch.tensor(2.0), torch.tensor(3.5)], 0, "epoch 1", tmp_path) == 5.5
    block = [torch.tensor(1.0), torch.tensor(float("nan")), torch.tensor(float("inf"))]
    with pytest.raises(NonFiniteLoss, match="became nan at step 6 of epoch 2"):
        read_losses(block, 4, "epoch 2", tmp_path)
