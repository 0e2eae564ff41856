"""Ensembles (#31): `zoo ensemble RUN RUN ... --name NAME` makes a run whose model averages its
members' probabilities (or CDFs), judged, ranked and used like any run; members that cannot be
averaged together are refused, one error naming the member."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, TrainedRun, built_once, phantom_crops, write, zoo_in_process
from zoo_plugins.heads.cdf import CDFHead
from zoo_plugins.heads.coral import CoralHead
from zoo_plugins.heads.softmax import SoftmaxHead

from zoo.compose.plugins import get_registry
from zoo.compose.recipe import load_recipe
from zoo.training.ensemble import EnsembleModel
from zoo.training.model import load

MEMBER = """\
name: tiny_member
seed: {seed}
data:
  dataset: {{name: phantom, params: {{patients: 40, visits: 2, size: 48}}}}
  target: stage
  image_size: 64
  split: {split}
model:
  backbone: {{name: thesis_vgg, params: {{filters: [8, 8, 16, 16, 32, 32]}}}}
  head: {{name: softmax, params: {{hidden: [32]}}}}
loss: cross_entropy
train: {{batch_size: 32, stages: [{{epochs: 1}}]}}
eval: {{bootstrap: 10}}
"""
ONE_SPLIT = "{seed: 0}"
OWN_SPLIT = "{}"  # the split follows the recipe's seed


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three tiny stage runs: seeds 0 and 1 on one split, and seed 1 on its own split."""

    def train(folder: Path) -> None:
        for label, seed, split in (("a", 0, ONE_SPLIT), ("b", 1, ONE_SPLIT), ("other_split", 1, OWN_SPLIT)):
            recipe = write(folder / f"{label}.yaml", MEMBER.format(seed=seed, split=split))
            result = zoo_in_process("run", str(recipe), "--runs-dir", str(folder / label))
            assert result.code == 0, result.err

    folder = built_once(tmp_path_factory, "ensemble-members", train)
    return {label: next(p for p in (folder / label).iterdir() if p.is_dir()) for label in ("a", "b", "other_split")}


def _ensemble(*args: str | Path) -> tuple[int, str, str]:
    result = zoo_in_process("ensemble", *map(str, args))
    return result.code, result.out, result.err


def test_an_ensemble_averages_its_members_probabilities_and_is_judged_like_any_run(
    members: dict[str, Path], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    code, out, err = _ensemble(members["a"], members["b"], "--name", "duo", "--runs-dir", runs, "--format", "json")
    assert code == 0, err
    folder = Path(json.loads(out)["run_dir"])
    assert folder.name.startswith("duo-")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["ensemble"]["members"] == [members["a"].name, members["b"].name]
    assert (
        set(metrics["splits"]) == {"val", "test"} and "bootstrap_95" in metrics["splits"]["test"]["metrics"]["accuracy"]
    )
    assert metrics["training"]["epochs"] == 2  # the members' epochs, summed
    # the ensemble's probabilities are the mean of its members', crop by crop
    mine = pd.read_csv(folder / "predictions-test.csv")
    theirs = [pd.read_csv(run / "predictions-test.csv") for run in (members["a"], members["b"])]
    columns = [f"p_{k}" for k in range(6)]
    assert all((t["sample_id"] == mine["sample_id"]).all() for t in theirs)
    mean = (theirs[0][columns].to_numpy() + theirs[1][columns].to_numpy()) / 2
    assert np.allclose(mine[columns].to_numpy(), mean, atol=1e-5)
    assert (mine["y_pred"].to_numpy() == mean.argmax(axis=1)).all()
    # ranked on the leaderboard beside its members' data, its backbones named
    rows = [json.loads(line) for line in (runs / "leaderboard.jsonl").read_text().splitlines()]
    assert {row["split"] for row in rows} == {"val", "test"}
    assert all(row["backbone"] == "2 x thesis_vgg" and row["recipe"] == "duo" for row in rows)
    # and used like any run
    model, config = load(folder, get_registry())
    assert isinstance(model, EnsembleModel) and len(config["ensemble"]) == 2
    scored = zoo_in_process("predict", str(phantom_crops(2)[0]), "--scorer", str(folder), "--format", "json")
    assert scored.code == 0, scored.err
    report = zoo_in_process("analyze", str(folder))
    assert report.code == 0, report.err
    assert "An ensemble trains no epochs of its own" in (folder / "report" / "report.html").read_text()


def test_one_run_is_not_an_ensemble(members: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = _ensemble(members["a"], "--name", "solo", "--runs-dir", tmp_path)
    assert code == 2 and "needs two runs or more" in err and str(members["a"]) in err


def test_a_missing_member_is_named(members: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    code, _, err = _ensemble(members["a"], missing, "--name", "duo", "--runs-dir", tmp_path / "runs")
    assert code == 2 and f"member '{missing}'" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "no half-made run"


def test_a_damaged_member_is_named(members: dict[str, Path], tmp_path: Path) -> None:
    damaged = Path(shutil.copytree(members["b"], tmp_path / "damaged"))
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    code, _, err = _ensemble(members["a"], damaged, "--name", "duo", "--runs-dir", tmp_path / "runs")
    assert code == 2 and f"member '{damaged}'" in err and "damaged" in err


def test_a_member_of_another_target_is_named(
    members: dict[str, Path], tiny_cdf_run: TrainedRun, tmp_path: Path
) -> None:
    code, _, err = _ensemble(members["a"], tiny_cdf_run.folder, "--name", "duo", "--runs-dir", tmp_path)
    assert code == 2 and f"member '{tiny_cdf_run.folder}'" in err and "target" in err, err


def test_a_member_of_other_data_is_named(members: dict[str, Path], tmp_path: Path) -> None:
    other = Path(shutil.copytree(members["b"], tmp_path / "other_data"))
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["dataset"]["fingerprint"] = "0" * 64  # as a run of other samples or labels would say
    (other / "metrics.json").write_text(json.dumps(metrics))
    code, _, err = _ensemble(members["a"], other, "--name", "duo", "--runs-dir", tmp_path)
    assert code == 2 and f"member '{other}'" in err and "data (fingerprint)" in err, err


def test_a_member_of_another_split_is_named_with_the_way_out(members: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = _ensemble(members["a"], members["other_split"], "--name", "duo", "--runs-dir", tmp_path)
    assert code == 2 and f"member '{members['other_split']}' split its patients differently" in err
    assert "data.split.seed" in err


def test_a_run_given_twice_and_a_bad_name_are_refused(members: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = _ensemble(members["a"], members["a"], "--name", "duo", "--runs-dir", tmp_path)
    assert code == 2 and "given twice" in err
    code, _, err = _ensemble(members["a"], members["b"], "--name", "two words", "--runs-dir", tmp_path)
    assert code == 2 and "not a run name" in err


def test_an_ensemble_config_whose_member_differs_in_target_is_refused(members: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = _ensemble(members["a"], members["b"], "--name", "duo", "--runs-dir", tmp_path, "--format", "json")
    assert code == 0, err
    folder = Path(json.loads(out)["run_dir"])
    config = json.loads((folder / "config.json").read_text())
    config["ensemble"][1]["config"]["target"] = "binary"
    (folder / "config.json").write_text(json.dumps(config))
    scored = zoo_in_process("predict", str(phantom_crops(1)[0]), "--scorer", str(folder))
    assert scored.code == 2 and "ensemble.1.config" in scored.err, scored.err


def test_a_split_seed_is_recorded_only_when_given() -> None:
    registry = get_registry()
    quickstart = ROOT / "recipes" / "quickstart.yaml"
    assert "seed" not in load_recipe(quickstart, registry).to_dict()["data"]["split"]  # hashes stay as they were
    fixed = load_recipe(quickstart, registry, ["data.split.seed=7"])
    assert fixed.to_dict()["data"]["split"]["seed"] == 7


def test_each_head_averages_passes_as_mean_probabilities_or_mean_cdf() -> None:
    torch.manual_seed(0)
    softmax = SoftmaxHead(8, "stage", [], 0.0).eval()
    logits = torch.randn(3, 4, 6)
    assert torch.allclose(
        softmax.predict(softmax.average(logits))["probs"], logits.softmax(dim=2).mean(dim=0), atol=1e-6
    )
    coral = CoralHead(8, "stage", [], 0.0).eval()
    cumulative = torch.randn(3, 4, 5)
    above = torch.sigmoid(coral.average(cumulative))
    assert torch.allclose(above, torch.sigmoid(cumulative).mean(dim=0), atol=1e-5)
    cdf = CDFHead(8, [], 0.0, "enforce").eval()
    curves = torch.sort(torch.rand(3, 4, 101), dim=2).values
    assert torch.allclose(cdf.average(curves), curves.mean(dim=0))
