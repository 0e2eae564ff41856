"""Multi-target models (#30): one backbone, a head and a weighted loss per target; missing labels
left out of their target's loss; every target judged, ranked, predicted and exported; and the
change of the summed grades between a patient's visits."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import built_once, phantom_crops, write, zoo_in_process

from zoo.judging.progression import JointScores, patient_changes, progression
from zoo.training.multi_target import MultiTargetLoss

MULTI = """\
name: tiny_multi
data:
  dataset: {name: phantom, params: {patients: 40, visits: 2, size: 48}}
  target: stage
  image_size: 64
  split: {stratify: false}
model:
  backbone: {name: thesis_vgg, params: {filters: [8, 8, 16, 16, 32, 32]}}
  head: {name: softmax, params: {hidden: [32]}}
loss: cross_entropy
extra_targets:
  svdh_jsn:
    head: {name: coral, params: {hidden: [32]}}
    loss: coral
    weight: 0.5
train: {batch_size: 32, stages: [{epochs: 1}]}
eval: {bootstrap: 10}
"""
SINGLE_JSN = (
    MULTI.replace("name: tiny_multi", "name: tiny_jsn")
    .replace("target: stage", "target: svdh_jsn")
    .replace("head: {name: softmax, params: {hidden: [32]}}\nloss: cross_entropy", "head: coral\nloss: coral")
    .split("extra_targets:")[0]
    + "train: {batch_size: 32, stages: [{epochs: 1}]}\neval: {bootstrap: 10}\n"
)


@pytest.fixture(scope="session")
def multi_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny stage + JSN model and a tiny JSN-only model on the same data, in one runs folder."""

    def train(folder: Path) -> None:
        for name, text in (("multi.yaml", MULTI), ("jsn.yaml", SINGLE_JSN)):
            result = zoo_in_process("run", str(write(folder / name, text)), "--runs-dir", str(folder / "runs"))
            (folder / f"{name}.out").write_text(f"{result.code}\n{result.out}\n{result.err}")

    return built_once(tmp_path_factory, "multi-target", train) / "runs"


def _run(runs: Path, name: str) -> Path:
    return next(p for p in runs.iterdir() if p.is_dir() and p.name.startswith(name + "-"))


def test_a_multi_target_run_judges_every_target(multi_runs: Path) -> None:
    run = _run(multi_runs, "tiny_multi")
    results = json.loads((run / "metrics.json").read_text())
    assert results["target"] == "stage"
    jsn = results["extra_targets"]["svdh_jsn"]
    assert set(jsn["splits"]) == {"val", "test"}
    assert "quadratic_weighted_kappa" in jsn["splits"]["test"]["metrics"]
    assert jsn["baselines"]["test"]["predictor"] == "majority_class"
    assert "test" in jsn["ceilings"]  # the phantom knows the true JSN grades
    frame = pd.read_csv(run / "predictions-test-svdh_jsn.csv")
    assert list(frame.columns[:5]) == ["sample_id", "joint", "patient_id", "y_true", "y_pred"]
    assert set(frame["y_true"].unique()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert len(frame) == jsn["splits"]["test"]["n"] == results["splits"]["test"]["n"]
    history = pd.read_csv(run / "history.csv")
    assert "val_svdh_jsn_quadratic_weighted_kappa" in history.columns
    config = json.loads((run / "config.json").read_text())
    assert config["extra_targets"]["svdh_jsn"]["head"]["name"] == "coral"


def test_the_leaderboard_ranks_an_extra_target_with_the_single_target_runs(multi_runs: Path) -> None:
    rows = [json.loads(line) for line in (multi_runs / "leaderboard.jsonl").read_text().splitlines()]
    jsn = [r for r in rows if r["target"] == "svdh_jsn" and r["split"] == "test"]
    assert {r["recipe"] for r in jsn} == {"tiny_multi", "tiny_jsn"}
    assert len({r["dataset_fingerprint"] for r in jsn}) == 1, "the same labelled samples: one comparison"
    extra = next(r for r in jsn if r["recipe"] == "tiny_multi")
    assert (extra["head"], extra["loss"], extra["imbalance"]) == ("coral", "coral", None)
    result = zoo_in_process("leaderboard", "--runs-dir", str(multi_runs), "--target", "svdh_jsn", "--format", "csv")
    assert result.code == 0, result.err
    assert "tiny_multi" in result.out and "tiny_jsn" in result.out
    assert "stage" not in {line.split(",")[0] for line in result.out.splitlines()}


def test_multi_target_predictions_give_stage_jsn_visit_sums_and_changes(multi_runs: Path, tmp_path: Path) -> None:
    crops = phantom_crops(40)[:20]
    manifest = pd.DataFrame({
        "path": [str(p) for p in crops],
        "patient_id": ["A"] * 10 + ["B"] * 5 + ["C"] * 5,
        "joint": [f"mcp{k % 5 + 1}" for k in range(20)],
        "date": ["2020-01-01"] * 5 + ["2022-01-01"] * 5 + ["2021-03-01"] * 5 + ["2021-03-01"] * 5,
    })  # fmt: skip
    manifest.loc[15:, "joint"] = [f"pip{k}" for k in range(1, 6)]  # patient C: one visit, five joints
    csv = tmp_path / "crops.csv"
    manifest.to_csv(csv, index=False)
    run = _run(multi_runs, "tiny_multi")
    result = zoo_in_process("predict", str(csv), "--scorer", str(run), "--format", "json")
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    joint = answer["joints"][0]
    assert {"stage", "jsn", "p_stage_0", "p_jsn_4"} <= set(joint)
    assert joint["jsn"] in (0, 1, 2, 3, 4)
    visit = answer["visits"][0]
    for column in ("rau_score", "erosion_sum", "jsn_sum", "total"):
        assert visit[f"{column}_low80" if column != "rau_score" else "rau_low80"] <= visit[column]
    assert visit["total"] == pytest.approx(visit["erosion_sum"] + visit["jsn_sum"], abs=0.02)
    changes = answer["changes"]
    assert [c["patient_id"] for c in changes] == ["A"], "B and C have one visit each"
    assert changes[0]["change_low80"] <= changes[0]["change_high80"]
    assert "2 patient(s) have one visit: no change between visits for them" in result.err


def test_a_multi_target_model_exports_every_target(multi_runs: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    result = zoo_in_process("export", str(_run(multi_runs, "tiny_multi")), "--out", str(tmp_path / "m.onnx"))
    assert result.code == 0, result.err
    assert "svdh_jsn_probs" in result.out and "svdh_jsn_pred" in result.out


BAD = """\
name: bad_multi
data:
  dataset: {name: manifest, params: {csv: x.csv, label_scale: stage}}
  target: stage
model:
  backbone: {name: thesis_vgg}
  head: softmax
loss: cross_entropy
extra_targets:
  svdh_jsn:
    head: cdf
    loss: coral
"""


def test_validate_names_a_target_the_data_cannot_label_and_a_head_that_cannot_serve_it(tmp_path: Path) -> None:
    result = zoo_in_process("validate", str(write(tmp_path / "bad.yaml", BAD)))
    assert result.code == 2
    problems = [line for line in result.err.splitlines() if line.startswith(str(tmp_path))]
    assert len(problems) == 3, result.err
    assert "bad.yaml:10: extra_targets.svdh_jsn: dataset 'manifest' gives stage labels" in problems[0]
    assert "bad.yaml:11: extra_targets.svdh_jsn.head.name: head 'cdf' does not support target 'svdh_jsn'" in problems[1]
    assert "bad.yaml:12: extra_targets.svdh_jsn.loss.name: loss 'coral' needs a component that provides" in problems[2]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("stage:\n    head: softmax\n    loss: cross_entropy", "extra_targets names 'stage', the main target"),
        ("landmarks:\n    head: heatmap\n    loss: heatmap", "'landmarks' needs a model of its own"),
    ],
)
def test_validate_refuses_extra_targets_a_model_cannot_have(tmp_path: Path, extra: str, message: str) -> None:
    text = MULTI.split("extra_targets:")[0] + "extra_targets:\n  " + extra + "\n"
    result = zoo_in_process("validate", str(write(tmp_path / "r.yaml", text)))
    assert result.code == 2
    assert message in result.err


def test_missing_labels_are_left_out_of_their_targets_loss() -> None:
    from zoo_plugins.losses.coral import CoralLoss
    from zoo_plugins.losses.cross_entropy import CrossEntropy

    torch.manual_seed(0)
    outputs = torch.randn(6, 6 + 4)
    main = torch.tensor([0.0, 1, 2, 3, 4, 5])
    jsn = torch.tensor([0.0, math.nan, 2, math.nan, 4, 1])
    loss = MultiTargetLoss([CrossEntropy(0.0), CoralLoss()], [1.0, 0.5], (6, 4))
    value = loss(outputs, torch.stack([main, jsn], dim=1))
    known = torch.isfinite(jsn)
    expected = CrossEntropy(0.0)(outputs[:, :6], main) + 0.5 * CoralLoss()(outputs[known, 6:], jsn[known])
    assert torch.isfinite(value)
    assert float(value) == pytest.approx(float(expected), rel=1e-6)
    none = torch.full((6,), math.nan)
    only_main = loss(outputs, torch.stack([main, none], dim=1))
    assert float(only_main) == pytest.approx(float(CrossEntropy(0.0)(outputs[:, :6], main)), rel=1e-6)


def _labelled_manifest(folder: Path, jsn: list[object]) -> Path:
    crops = phantom_crops(40)[: len(jsn)]
    table = pd.DataFrame({
        "path": [str(p) for p in crops],
        "label": [k % 6 for k in range(len(jsn))],
        "patient_id": [f"P{k // 4}" for k in range(len(jsn))],
        "jsn": jsn,
    })  # fmt: skip
    table.to_csv(folder / "labels.csv", index=False)
    recipe = MULTI.replace(
        "dataset: {name: phantom, params: {patients: 40, visits: 2, size: 48}}",
        "dataset: {name: manifest, params: {csv: labels.csv, label_scale: stage, jsn_column: jsn}}",
    )
    return write(folder / "r.yaml", recipe)


def test_data_check_lists_bad_extra_labels_and_counts_missing_ones(multi_runs: Path, tmp_path: Path) -> None:
    jsn: list[object] = [0, 1, 2, 3, 4, 7, 1.5, None, 2, 1, 0, 0]
    result = zoo_in_process("data", "check", str(_labelled_manifest(tmp_path, jsn)), "--format", "json")
    assert result.code == 2
    checked = json.loads(result.out)
    assert [p["problem"] for p in checked["problems"]] == [
        "svdh_jsn: label out of range",
        "svdh_jsn: label is not a whole number",
    ]
    assert any(n.startswith("1 of 10 samples have no svdh_jsn label") for n in checked["notes"]), checked["notes"]


def test_progression_counts_one_visit_patients_and_calls_progressors_against_the_truth() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for patient in range(40):
        grow = patient % 2  # half progress by one grade in every joint
        for visit in range(1 if patient == 39 else 2):
            for _joint in range(5):
                grade = min(4, 1 + grow * visit)
                rows.append({"patient_id": f"P{patient}", "date": f"202{visit}-01-01", "grade": grade})
    samples = pd.DataFrame(rows)
    grades = samples["grade"].to_numpy()
    probs = np.eye(5)[grades] * 0.9 + 0.02  # confident, right
    second = grades + rng.choice([0, 0, 0, 1, -1], len(grades))
    scores = {"svdh_jsn": JointScores(probs, grades.astype(float), second.astype(float), grades.astype(float))}
    changes, one_visit = patient_changes(samples, scores)
    assert one_visit == 1 and len(changes) == 39
    summary = progression(changes, one_visit, ["svdh_jsn"])
    assert summary["one_visit_patients"] == 1
    assert isinstance(summary["sdc"], float) and summary["sdc"] > 0
    model_kappa = summary["model_kappa"]
    assert isinstance(model_kappa, dict) and model_kappa["value"] == 1.0
    assert summary["model_sensitivity"] == summary["model_specificity"] == 1.0
    icc = summary["model_icc"]
    assert isinstance(icc, dict) and icc["value"] > 0.98
    assert changes["model_change"].between(changes["model_low80"], changes["model_high80"]).all()


def test_a_damaged_extra_head_in_config_json_is_one_error(multi_runs: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(_run(multi_runs, "tiny_multi"), run, ignore=shutil.ignore_patterns("checkpoint"))
    config = json.loads((run / "config.json").read_text())
    config["extra_targets"]["svdh_jsn"]["head"]["name"] = "softmax_typo"
    (run / "config.json").write_text(json.dumps(config))
    result = zoo_in_process("predict", str(phantom_crops(40)[0]), "--scorer", str(run))
    assert result.code == 2
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "extra_targets.svdh_jsn.head.name" in errors[0], result.err
