"""Calibration (#31): the calibration metrics, and temperature scaling fitted on the validation
split, kept in the run and used by every later prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CDF, write, zoo_in_process
from zoo_plugins.metrics.calibration import (
    brier_score,
    expected_calibration_error,
    interval_coverage,
    pit_distance,
)

from zoo.compose.plugins import get_registry
from zoo.judging.progression import rau_coverage, rau_interval
from zoo.predictions import Predictions
from zoo.training.model import load

CALIBRATED = """\
name: tiny_calibrated
data:
  dataset: {name: phantom, params: {patients: 40, visits: 2, size: 48}}
  target: stage
  image_size: 64
model:
  backbone: {name: thesis_vgg, params: {filters: [8, 8, 16, 16, 32, 32]}}
  head: {name: softmax, params: {hidden: [32]}}
loss: cross_entropy
train: {batch_size: 32, stages: [{epochs: 1}]}
eval: {bootstrap: 10, calibrate: temperature}
"""


def _stages(y_true: list[int], probs: list[list[float]]) -> Predictions:
    truth = np.array(y_true, dtype=float)
    p = np.array(probs, dtype=float)
    return Predictions("stage", truth, p.argmax(axis=1).astype(float), np.array(["a"] * len(truth)), probs=p)


def test_ece_and_brier_of_known_predictions() -> None:
    right = _stages([0, 1], [[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(right) == 0.0 and brier_score(right) == 0.0
    # four predictions at 0.8 confidence, three right: |0.8 - 0.75| = 0.05 in the one bin used
    fair = _stages([0, 0, 0, 1], [[0.8, 0.2]] * 4)
    assert expected_calibration_error(fair) == pytest.approx(0.05)
    assert brier_score(fair) == pytest.approx((3 * 0.08 + 1.28) / 4)


def _cdfs(y_true: list[float], steps: list[int]) -> Predictions:
    """Step CDFs jumping from 0 to 1 at each row's step: every interval is that one value."""
    cdf = (np.arange(101)[None, :] >= np.array(steps)[:, None]).astype(float)
    truth = np.array(y_true)
    return Predictions("percent", truth, np.array(steps, dtype=float), np.array(["a"] * len(truth)), cdf=cdf)


def test_interval_coverage_and_pit_distance() -> None:
    p = _cdfs([10, 20, 30, 40], [10, 20, 30, 50])
    assert interval_coverage(0.8)(p) == 0.75 and interval_coverage(0.5)(p) == 0.75
    uniform = Predictions(
        "percent", np.arange(101, dtype=float), np.zeros(101), np.array(["a"] * 101),
        cdf=np.tile((np.arange(101) + 1) / 101, (101, 1)),
    )  # fmt: skip
    assert pit_distance(uniform) < 0.02, "a uniform forecast of uniform values is calibrated"
    assert pit_distance(p) > 0.4, "step CDFs put every PIT value at 0.5 or 0"


def test_a_calibrated_run_keeps_its_temperature_and_every_prediction_uses_it(tmp_path: Path) -> None:
    result = zoo_in_process("run", str(write(tmp_path / "r.yaml", CALIBRATED)), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    calibration = json.loads((run / "metrics.json").read_text())["calibration"]
    assert calibration["fitted_on"] == "val" and calibration["val_nll_after"] <= calibration["val_nll_before"]
    assert json.loads((run / "config.json").read_text())["temperature"] == calibration["temperature"]
    assert "calibrated: temperature" in result.out
    model, _ = load(run, get_registry())
    assert model.temperature == calibration["temperature"]
    results = json.loads((run / "metrics.json").read_text())
    assert "expected_calibration_error" in results["splits"]["test"]["metrics"]
    rau = results["rau"]["test"]  # the phantom knows the truth: the Rau intervals are checked
    assert rau["visits"] > 0 and 0 <= rau["inside_80"] <= 1
    assert "Rau score 80 % intervals (test): the true Rau score lies inside for" in result.out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (["data.split={train: 0.8, test: 0.2, val: 0.0}"], "data.split.val is 0"),
        (["eval.calibrate=intervals"], "'intervals' calibrates the intervals of a CDF, and head 'softmax' gives none"),
    ],
)
def test_calibration_without_a_validation_split_or_intervals_without_a_cdf_is_refused(
    tmp_path: Path, changes: list[str], message: str
) -> None:
    settings = [part for change in changes for part in ("--set", change)]
    result = zoo_in_process("validate", str(write(tmp_path / "r.yaml", CALIBRATED)), *settings)
    assert result.code == 2
    lines = [line for line in result.err.splitlines() if "eval.calibrate" in line]
    assert len(lines) == 1 and message in lines[0], result.err


def test_rau_interval_coverage_counts_visits_whose_true_score_is_inside() -> None:
    samples = pd.DataFrame({"patient_id": ["A"] * 4 + ["B"] * 4, "date": ["d1", "d1", "d2", "d2"] * 2})
    truth = np.array([0.0, 1, 2, 2, 5, 5, 0, 0])
    sure = np.eye(6)[truth.astype(int)]  # certain of every true stage: every interval holds its visit
    assert rau_coverage(samples, sure, truth) == {"visits": 4, "inside_80": 1.0}
    wrong = np.eye(6)[(5 - truth).astype(int)]  # certain of the wrong stage: no interval holds its visit
    assert rau_coverage(samples, wrong, truth)["inside_80"] == 0.0
    unknown = truth.copy()
    unknown[:2] = np.nan  # A's first visit has no known truth: it is not counted
    assert rau_coverage(samples, sure, unknown)["visits"] == 3


INTERVALS = TINY_CDF.replace("eval: {bootstrap: 10}", "eval: {bootstrap: 10, calibrate: intervals}")


def test_intervals_calibration_brings_the_cdf_intervals_and_the_rau_interval_near_80_percent(tmp_path: Path) -> None:
    result = zoo_in_process("run", str(write(tmp_path / "r.yaml", INTERVALS)), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    calibration = json.loads((run / "metrics.json").read_text())["calibration"]
    assert calibration["method"] == "intervals" and calibration["fitted_on"] == "val"
    before, after = calibration["val_coverage_80_before"], calibration["val_coverage_80_after"]
    assert abs(after - 0.8) <= abs(before - 0.8)
    assert calibration["val_rau_inside_80_after"] >= 0.8, "the conformal margin: at least 80 % of the val visits inside"
    config = json.loads((run / "config.json").read_text())
    assert config["temperature"] == calibration["temperature"]
    assert config.get("rau_margin", 0.0) == calibration["rau_margin"]
    assert "for the joints' 80 % intervals" in result.out
    model, _ = load(run, get_registry())
    assert model.temperature == calibration["temperature"]


def test_a_rau_margin_widens_the_interval_but_never_past_the_score_or_the_scale() -> None:
    rng = np.random.default_rng
    unsure = np.tile([0.4, 0.2, 0.2, 0.1, 0.05, 0.05], (10, 1))
    score, low, high = rau_interval(unsure, rng(0))
    assert low <= score <= high
    _, wide_low, wide_high = rau_interval(unsure, rng(0), margin=5.0)
    assert (wide_low, wide_high) == (pytest.approx(max(low - 5, 0)), pytest.approx(high + 5))
    _, narrow_low, narrow_high = rau_interval(unsure, rng(0), margin=-100.0)
    assert narrow_low == narrow_high == score, "a negative margin stops at the score"
    healthy = np.tile([1.0, 0, 0, 0, 0, 0], (10, 1))
    assert rau_interval(healthy, rng(0), margin=5.0)[1] == 0.0, "no Rau score below 0"
