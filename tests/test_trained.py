"""Using a finished run: `zoo predict` (with Rau scores), `zoo analyze`, `zoo export`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TrainedRun, needs_real_data, phantom_crops, write

from zoo.paths import cache_root
from zoo.using.visits import by_visit


@pytest.fixture
def run(tiny_cdf_run: TrainedRun) -> Path:
    """A tiny trained CDF model (trained once for the session; tests only read it, or copy it)."""
    return tiny_cdf_run.folder


def test_rau_score_worked_example() -> None:
    one_hot = np.eye(6)[[0, 1, 2, 0, 0, 0, 0, 0, 3, 0]]
    joints = pd.DataFrame(
        {
            "patient_id": "P1",
            "joint": [f"j{i}" for i in range(10)],
            "status": "ok",
            "stage": one_hot.argmax(1),
            **{f"p_stage_{k}": one_hot[:, k] for k in range(6)},
        }
    )
    visits = by_visit(joints)
    assert visits.to_dict("records") == [
        {"patient_id": "P1", "joints_scored": 10, "rau_score": 22.8, "rau_low80": 22.8, "rau_high80": 22.8}
    ]  # (1 + 2 + 3) * 38 / 10


def test_predict_scores_joints_and_visits_and_lists_errors(zoo, run: Path, tmp_path: Path) -> None:
    crops = phantom_crops(20)
    rows = [f"{p},P{i // 10},{p.stem.split('_')[-1]},2020-01-01" for i, p in enumerate(crops)]
    manifest = write(
        tmp_path / "m.csv", "path,patient_id,joint,date\n" + "\n".join(rows) + "\nmissing.jpg,P9,mcp1,2020-01-01\n"
    )
    out = tmp_path / "scores.csv"
    result = zoo("predict", str(run), str(manifest), "--out", str(out))
    assert result.code == 2, "one input could not be read"
    assert "1 of 21 inputs could not be scored" in result.err
    joints = pd.read_csv(out)
    assert len(joints) == 21 and joints["status"].iloc[-1] == "error: missing file"
    good = joints[joints["status"] == "ok"]
    assert (
        (good["percent_low80"] <= good["percent_median"]) & (good["percent_median"] <= good["percent_high80"])
    ).all()
    assert good["percent"].between(0, 100).all()
    assert np.allclose(good[[f"p_stage_{k}" for k in range(6)]].sum(axis=1), 1.0, atol=1e-5)
    assert set(good["unsure"].astype(str)) <= {"True", "False"}
    visits = pd.read_csv(tmp_path / "scores-visits.csv")
    assert list(visits["patient_id"]) == ["P0", "P1"] and list(visits["joints_scored"]) == [10, 10]
    assert (visits["rau_low80"] <= visits["rau_high80"]).all()
    as_json = zoo("predict", str(run), str(crops[0]), "--format", "json")
    assert as_json.code == 0 and json.loads(as_json.out)["joints"][0]["status"] == "ok"


def test_predict_on_real_crops(zoo, run: Path) -> None:
    real = needs_real_data("rsna-finger-crops")
    result = zoo("predict", str(run), str(real), "--format", "json")
    assert result.code == 0, result.err
    joints = json.loads(result.out)["joints"]
    assert len(joints) == 30 and all(j["status"] == "ok" for j in joints)


def test_predict_bad_run_folder_and_only_unreadable_inputs(zoo, run: Path, tmp_path: Path) -> None:
    result = zoo("predict", "--scorer", str(tmp_path), str(tmp_path))
    assert result.code == 2 and "is not a finished run" in result.err
    neither = zoo("predict", str(tmp_path), str(tmp_path))  # no run folder first: both are inputs, and empty
    assert neither.code == 2 and "no images found in the inputs" in neither.err
    nothing = zoo("predict", str(run), str(tmp_path / "nope.png"))
    assert nothing.code == 2 and "1 of 1 inputs could not be scored" in nothing.err
    assert "missing file" in nothing.out and "Traceback" not in nothing.err


def test_analyze_writes_a_self_contained_report(zoo, run: Path, tmp_path: Path) -> None:
    result = zoo("analyze", str(run), "--out", str(tmp_path / "report"))
    assert result.code == 0, result.err
    page = (tmp_path / "report" / "report.html").read_text()
    for section in (
        "Results",
        "Attention maps",
        "Embeddings",
        "kNN accuracy",
        "Erosion and disease activity",
        "Spearman",
    ):
        assert section in page
    assert page.count("data:image/png;base64,") >= 7
    for name in ("predicted-vs-true", "labels", "curves", "attention", "tsne", "neighbours", "activity"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 1000


def test_export_to_onnx_matches_pytorch(zoo, run: Path, tmp_path: Path) -> None:
    result = zoo("export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert result.code == 0, result.err
    assert "outputs outputs, cdf, lower, median, pred, probs, stage, upper" in result.out
    import onnxruntime
    import torch

    from zoo.compose.plugins import get_registry
    from zoo.training.model import load

    model, _ = load(run, get_registry())
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    image = np.random.default_rng(1).random((2, 1, 64, 64), dtype=np.float32)
    cdf = session.run(["cdf"], {"image": image})[0]
    with torch.no_grad():
        reference = model.predict(model(torch.from_numpy(image)))["cdf"].numpy()
    assert np.abs(cdf - reference).max() < 1e-4
    assert (np.diff(cdf, axis=1) >= 0).all(), "the exported CDF is repaired too"


def test_predict_lists_a_dangling_link_in_a_folder(zoo, run: Path, tmp_path: Path) -> None:
    crops = phantom_crops(2)
    folder = tmp_path / "crops"
    folder.mkdir()
    for crop in crops:
        (folder / crop.name).write_bytes(crop.read_bytes())
    (folder / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    result = zoo("predict", str(run), str(folder), "--out", str(tmp_path / "s.csv"))
    assert result.code == 2 and "1 of 3 inputs could not be scored" in result.err
    joints = pd.read_csv(tmp_path / "s.csv")
    assert "error: broken link" in set(joints["status"])


def test_damaged_run_files_are_named_in_one_clear_error(zoo, run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    weights = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    truncated = zoo("predict", str(copy), str(tmp_path))
    assert truncated.code == 2 and "model.safetensors' is damaged" in truncated.err and "unexpected" not in truncated.err
    (copy / "model.safetensors").write_bytes(weights)
    (copy / "config.json").write_text("{not json")
    config = zoo("export", str(copy))
    assert config.code == 2 and "config.json' is not a readable model config" in config.err
    state = sorted((copy / "checkpoint").glob("state-*.safetensors"))[0]
    state.write_bytes(state.read_bytes()[:100])
    (copy / "checkpoint" / ".state-0009-0.safetensors.abc123").write_bytes(b"left by kill -9")
    (copy / ".history.csv.xyz").write_text("left by kill -9")
    resumed = zoo("run", "--resume", str(copy))
    assert resumed.code == 2 and "checkpoint" in resumed.err and "is damaged" in resumed.err
    assert not list(copy.glob(".history.csv.*")) and not list((copy / "checkpoint").glob(".*")), "stale temporaries go"


def test_predict_reads_what_training_read(zoo, run: Path, tmp_path: Path) -> None:
    phantom = next((cache_root() / "phantom").glob("phantom-*"))
    scores = zoo("predict", str(run), str(phantom / "scores.csv"), "--out", str(tmp_path / "p.csv"))
    assert scores.code == 0, scores.err[-800:]
    joints = pd.read_csv(tmp_path / "p.csv")
    assert (joints["status"] == "ok").all() and len(pd.read_csv(tmp_path / "p-visits.csv")) > 0
    crops = sorted((phantom / "images").glob("*.jpg"))[:3]
    manifest = write(tmp_path / "own.csv", "file,who\n" + "".join(f"{c},P{i}\n" for i, c in enumerate(crops)))
    recipe = write(tmp_path / "manifest-run" / "resolved.yaml", (run / "resolved.yaml").read_text())
    text = recipe.read_text()
    dataset = "dataset:\n    name: manifest\n    params: {csv: own.csv, path_column: file, patient_column: who, label_column: pct}\n"
    start = text.index("dataset:")
    end = text.index("  target:")
    recipe.write_text(text[:start] + dataset + text[end:])
    for name in ("config.json", "model.safetensors"):
        (tmp_path / "manifest-run" / name).write_bytes((run / name).read_bytes())
    own = zoo("predict", str(tmp_path / "manifest-run"), str(manifest), "--format", "json")
    assert own.code == 0, own.err[-800:]
    assert [j["patient_id"] for j in json.loads(own.out)["joints"]] == ["P0", "P1", "P2"], "the recipe's column names"


def test_predict_says_so_when_nothing_was_scored(zoo, run: Path, tmp_path: Path) -> None:
    result = zoo("predict", str(run), str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"))
    assert result.code == 2 and "none was scored" in result.err and "the other inputs were scored" not in result.err


def test_a_leaderboard_that_cannot_be_opened_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    import builtins

    from zoo.errors import ZooError
    from zoo.judging import leaderboard

    real_open = builtins.open

    def immutable(path, mode="r", *args, **kwargs):  # chattr +i, which root cannot simulate with chmod
        if str(path).endswith("leaderboard.jsonl") and "a" in mode:
            raise PermissionError(1, "Operation not permitted")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", immutable)
    with pytest.raises(ZooError, match=r"cannot open the leaderboard .*\(Operation not permitted\)"):
        leaderboard.append(tmp_path / "leaderboard.jsonl", [{"run_id": "a", "split": "test"}])


def test_the_report_reads_each_targets_prediction_as_a_ratingen_stage_or_not_at_all() -> None:
    from zoo.using.analyze import predicted_stages

    predictions = pd.DataFrame({"sample_id": ["a", "b"], "y_pred": [3.0, 45.0]})
    assert predicted_stages(predictions.iloc[:1], "stage").tolist() == [3.0]  # a stage is a stage, not a percent
    assert predicted_stages(predictions, "percent").tolist() == [1, 3]
    assert predicted_stages(predictions.assign(stage=[2, 4]), "percent").tolist() == [2, 4]  # a CDF model's own
    assert predicted_stages(predictions, "svdh_erosion") is None and predicted_stages(predictions, "binary") is None
