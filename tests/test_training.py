"""`zoo run` end to end on CPU: the run folder, seeding, resume after a kill, Ctrl-C, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, run_zoo, write

from zoo.errors import UsageError
from zoo.training import trainer as trainer_module
from zoo.training.device import check_compile

TINY = """\
name: tiny
seed: 3
data:
  dataset: {name: phantom, params: {patients: 40, visits: 1, size: 48}}
  target: stage
  image_size: 64
  augment: {rotation: 10}
model:
  backbone: {name: thesis_vgg, params: {filters: [8, 8, 16, 16, 32, 32]}}
  head: {name: softmax, params: {hidden: [32]}}
loss: cross_entropy
imbalance: class_weights
train:
  batch_size: 32
  stages: [{epochs: EPOCHS}]
  early_stopping: {monitor: val_class_normalised_accuracy, patience: 5}
eval: {bootstrap: 20}
"""
RUN_FILES = {
    "recipe.yaml",
    "resolved.yaml",
    "split.csv",
    "model.safetensors",
    "config.json",
    "checkpoint",
    "history.csv",
    "metrics.json",
    "predictions-val.csv",
    "predictions-test.csv",
    "env.json",
}


def tiny(folder: Path, epochs: int = 2, extra: str = "") -> Path:
    return write(folder / "tiny.yaml", TINY.replace("EPOCHS", str(epochs)) + extra)


def only_run(runs: Path) -> Path:
    folders = [p for p in runs.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_run_leaves_a_complete_folder_and_is_seeded(zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = tiny(tmp_path)
    first = run_zoo("run", str(recipe), "--runs-dir", str(tmp_path / "a"))
    assert first.code == 0, first.err
    folder = only_run(tmp_path / "a")
    assert {p.name for p in folder.iterdir()} >= RUN_FILES
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"val", "test"}
    assert metrics["baselines"]["test"]["predictor"] == "majority_class"
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [1, 2] and "val_loss" in history.columns
    predictions = pd.read_csv(folder / "predictions-test.csv")
    assert {"sample_id", "patient_id", "y_true", "y_pred", "p_0", "p_5"} <= set(predictions.columns)
    split = pd.read_csv(folder / "split.csv")
    assert (split.groupby("patient_id")["split"].nunique() == 1).all()
    config = json.loads((folder / "config.json").read_text())
    assert config["backbone"]["name"] == "thesis_vgg" and config["image_size"] == 64
    assert (folder / "recipe.yaml").read_text() == recipe.read_text(), "the recipe as given"
    rescored = zoo(
        "evaluate",
        str(folder / "predictions-test.csv"),
        "--target",
        "stage",
        "--json",
        "--bootstrap",
        "20",
        "--seed",
        "3",
    )
    assert json.loads(rescored.out) == metrics["splits"]["test"], "zoo evaluate reproduces the run's numbers"
    board = [json.loads(line) for line in (tmp_path / "a" / "leaderboard.jsonl").read_text().splitlines()]
    assert {(r["run_id"], r["split"]) for r in board} == {(folder.name, "val"), (folder.name, "test")}
    assert board[0]["weights_sha256"] == metrics["training"]["weights_sha256"] and board[0]["recipe"] == "tiny"
    # In this process, batches from a loader worker that lives through both epochs, and the losses
    # read in blocks of 5 steps as on a GPU (each epoch's last block is partial).
    monkeypatch.setitem(trainer_module.LOSS_READS_EVERY, "cpu", 5)
    second = zoo("run", str(recipe), "--runs-dir", str(tmp_path / "b"), "--set", "train.num_workers=1")
    assert second.code == 0
    again = json.loads((only_run(tmp_path / "b") / "metrics.json").read_text())
    assert again["splits"] == metrics["splits"], "same recipe and seed, same numbers, with or without workers"
    losses = pd.read_csv(only_run(tmp_path / "b") / "history.csv")["train_loss"].tolist()
    assert losses == pytest.approx(history["train_loss"].tolist(), rel=1e-9), "every block of losses is counted"
    assert again["training"]["weights_sha256"] == metrics["training"]["weights_sha256"]


def _start(recipe: Path, runs: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", "run", str(recipe), "--runs-dir", str(runs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it: a suite started in the background by a shell without job
        # control inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_epochs(runs: Path, epochs: int, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for history in runs.glob("*/history.csv"):
            if len(history.read_text().splitlines()) - 1 >= epochs:
                return history.parent
        time.sleep(0.2)
    raise AssertionError("the run did not reach the epoch in time")


def test_resume_after_sigkill_matches_an_uninterrupted_run(zoo, tmp_path: Path) -> None:
    recipe = tiny(tmp_path, epochs=4)
    process = _start(recipe, tmp_path / "killed")
    folder = _wait_for_epochs(tmp_path / "killed", 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (folder / "metrics.json").exists()
    resumed = zoo("run", "--resume", str(folder))
    assert resumed.code == 0, resumed.err
    assert {p.name for p in folder.iterdir()} >= RUN_FILES
    whole = zoo("run", str(recipe), "--runs-dir", str(tmp_path / "whole"))
    assert whole.code == 0
    a = json.loads((folder / "metrics.json").read_text())
    b = json.loads((only_run(tmp_path / "whole") / "metrics.json").read_text())
    assert a["training"]["weights_sha256"] == b["training"]["weights_sha256"]
    assert a["splits"] == b["splits"]
    assert list(pd.read_csv(folder / "history.csv")["epoch"]) == [1, 2, 3, 4]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_and_says_how_to_resume(tmp_path: Path, stop: signal.Signals) -> None:
    recipe = tiny(tmp_path, epochs=200)  # no early stopping: the run outlasts the signal on any machine
    recipe.write_text(recipe.read_text().replace("  early_stopping: {monitor: val_class_normalised_accuracy, patience: 5}\n", ""))
    process = _start(recipe, tmp_path / "runs")
    folder = _wait_for_epochs(tmp_path / "runs", 1, process)
    process.send_signal(stop)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"Hint: resume with: zoo run --resume {folder}" in err
    assert "Traceback" not in err
    assert (folder / "checkpoint" / "latest.json").is_file()


def test_bad_monitor_and_resume_usage(zoo, tmp_path: Path) -> None:
    recipe = tiny(tmp_path).read_text().replace("val_class_normalised_accuracy", "val_mae")
    result = zoo("run", str(write(tmp_path / "bad.yaml", recipe)), "--runs-dir", str(tmp_path / "r"))
    assert result.code == 2
    assert "'val_mae' is not measured for this recipe" in result.err and "val_quadratic_weighted_kappa" in result.err
    assert not any((tmp_path / "r").iterdir()), "a run that never started leaves no half-made folder"
    assert zoo("run").code == 2
    nothing = zoo("run", "--resume", str(tmp_path))
    assert nothing.code == 2 and "is not a run folder" in nothing.err


@pytest.mark.parametrize("compile_mode", ["false", "true"])
def test_two_process_ddp_on_cpu_agrees(tmp_path: Path, compile_mode: str) -> None:
    """Both processes end with the same weights, with the model compiled inside DDP too."""
    if compile_mode == "true":
        try:
            check_compile(torch.device("cpu"))
        except UsageError:
            pytest.skip("torch.compile does not work on this machine (no C++ compiler)")
    recipe = tiny(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            "29531" if compile_mode == "false" else "29532",  # the two cases may run at once
            "-m",
            "zoo",
            "run",
            str(recipe),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--device",
            "cpu",
            "--set",
            f"train.compile={compile_mode}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    digests = sorted(line.split()[-1] for line in done.stderr.splitlines() if "weights sha256" in line)
    assert len(digests) == 2 and digests[0] == digests[1], done.stderr[-2000:]
    folder = only_run(tmp_path / "runs")
    assert {p.name for p in folder.iterdir()} >= RUN_FILES
    assert yaml.safe_load((folder / "resolved.yaml").read_text())["train"]["compile"] is (compile_mode == "true")


RECIPES = sorted(p for p in (ROOT / "recipes").rglob("*.yaml") if "real" not in p.parts)


@pytest.mark.parametrize("path", [p for p in RECIPES if p.parent.name == "recipes"], ids=lambda p: p.name)
def test_gpu_sized_recipes_start_on_cpu(zoo, path: Path, tmp_path: Path) -> None:
    from zoo.compose.plugins import get_registry
    from zoo.compose.recipe import load_recipe

    recipe = load_recipe(path, get_registry())
    overrides = [
        "data.dataset.params.patients=8",
        "data.dataset.params.visits=1",
        "data.dataset.params.size=48",
        "train.batch_size=16",
        "eval.bootstrap=5",
        "train.device=cpu",
        f"data.image_size={80 if recipe.model.backbone.name == 'inception_v3' else 64}",
    ]
    overrides += [f"train.stages.{i}.epochs=1" for i in range(len(recipe.train.stages))]
    if "pretrained" in recipe.model.backbone.params:
        overrides.append("model.backbone.params.pretrained=false")
    if recipe.imbalance is not None and "per_class" in recipe.imbalance.params:
        overrides.append("imbalance.params.per_class=8")
    args = [a for o in overrides for a in ("--set", o)]
    result = zoo("run", str(path), "--runs-dir", str(tmp_path), *args)
    assert result.code == 0, result.err[-2000:]
    assert (only_run(tmp_path) / "metrics.json").is_file()


def test_a_run_whose_splits_cannot_be_filled_is_refused(zoo, tmp_path: Path) -> None:
    one_patient = tiny(tmp_path).read_text().replace("patients: 40, visits: 1", "patients: 1, visits: 1")
    result = zoo("run", str(write(tmp_path / "one.yaml", one_patient)), "--runs-dir", str(tmp_path / "r"))
    assert result.code == 2
    assert "has no patients" in result.err and result.err.count("Error:") == 1
    assert not any((tmp_path / "r").iterdir()), "nothing half-made"


def test_analyze_reports_the_split_a_recipe_evaluated(zoo, tmp_path: Path) -> None:
    text = tiny(tmp_path, epochs=1).read_text().replace("eval: {bootstrap: 20}", "eval: {bootstrap: 5, splits: [val]}")
    result = zoo("run", str(write(tmp_path / "val.yaml", text)), "--runs-dir", str(tmp_path / "r"))
    assert result.code == 0, result.err[-1500:]
    folder = only_run(tmp_path / "r")
    assert not (folder / "predictions-test.csv").exists()
    analyzed = zoo("analyze", str(folder))
    assert analyzed.code == 0, analyzed.err[-1500:]
    assert "random val crops" in (folder / "report" / "report.html").read_text()


def test_compile_mode_reaches_torch_compile(zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[str | None] = []

    def recording(model: object, mode: str | None = None) -> object:  # compiles nothing: records the mode
        modes.append(mode)
        return model

    monkeypatch.setattr(trainer_module.torch, "compile", recording)
    result = zoo("run", str(tiny(tmp_path, epochs=1)), "--runs-dir", str(tmp_path / "r"),
                 "--set", "train.compile=reduce-overhead", "--set", "eval.bootstrap=5")  # fmt: skip
    assert result.code == 0, result.err[-1500:]
    assert modes[-1] == "reduce-overhead", "the training network is compiled in the recipe's mode"
    refused = zoo("validate", str(tiny(tmp_path)), "--set", "train.compile=fast")
    assert refused.code == 2
    assert "train.compile: compile is true, false or a torch.compile mode: default, reduce-overhead" in refused.err


def test_a_last_training_batch_of_one_sample_is_dropped() -> None:
    from zoo.data.loader import CropBatches, batches

    crops = CropBatches(np.zeros((5, 8, 8), np.uint8), np.arange(5), np.zeros(5))
    assert [len(b[1]) for b in batches(crops, 4, training=True)] == [4]  # batch norm cannot train on one
    assert [len(b[1]) for b in batches(crops, 4)] == [4, 1]  # evaluation sees every sample
    assert [len(b[1]) for b in batches(CropBatches(np.zeros((6, 8, 8), np.uint8), np.arange(6), np.zeros(6)), 4,
                                       training=True)] == [4, 2]  # fmt: skip
