"""`track: mlflow`: a run logged to a real MLflow store, read back through MLflow's own client,
a resumed run continuing the same MLflow run, and a clear error when MLflow is missing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_zoo, write
from test_training import TINY, _wait_for_epochs

mlflow = pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'erosion-zoo[mlflow]'")


def client(folder: Path) -> mlflow.tracking.MlflowClient:
    return mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")


def the_mlflow_run(folder: Path, run_dir: Path) -> mlflow.entities.Run:
    store = client(folder)
    experiment = store.get_experiment_by_name("tiny")
    assert experiment is not None, "the experiment is the recipe's name"
    found = store.search_runs([experiment.experiment_id], filter_string=f"tags.`zoo.run` = '{run_dir.name}'")
    assert len(found) == 1, "one MLflow run per zoo run"
    return found[0]


def test_a_tracked_run_killed_and_resumed_is_one_mlflow_run_with_everything(tmp_path: Path) -> None:
    """Params, a point per epoch, the final metrics with their intervals, the run folder's files:
    across a kill -9 and a resume, in the one MLflow run the zoo run started."""
    recipe = write(tmp_path / "tiny.yaml", TINY.replace("EPOCHS", "6"))  # killed after 2: time to spare
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo", "run", str(recipe), "--runs-dir", "runs", "--track", "mlflow"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_dir = _wait_for_epochs(tmp_path / "runs", 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert the_mlflow_run(tmp_path, run_dir).info.status == "RUNNING", "killed: the MLflow run is left open"
    resumed = run_zoo("run", "--resume", str(run_dir), cwd=tmp_path)
    assert resumed.code == 0, resumed.err
    assert "track" in (run_dir / "resolved.yaml").read_text()
    found = the_mlflow_run(tmp_path, run_dir)
    assert found.info.status == "FINISHED" and found.info.run_name == run_dir.name
    assert found.data.params["model.backbone.name"] == "thesis_vgg"
    assert found.data.params["train.batch_size"] == "32"
    store = client(tmp_path)
    steps = {point.step for point in store.get_metric_history(found.info.run_id, "train_loss")}
    assert steps == {1, 2, 3, 4, 5, 6}, "the epochs before and after the kill, in one MLflow run"
    metrics = found.data.metrics
    for name in ("test_quadratic_weighted_kappa", "test_class_normalised_accuracy", "val_accuracy"):
        assert name in metrics
        assert metrics[f"{name}_low95"] <= metrics[name] <= metrics[f"{name}_high95"], name
    artifacts = {item.path for item in store.list_artifacts(found.info.run_id)}
    assert {"metrics.json", "config.json", "model.safetensors", "history.csv", "resolved.yaml"} <= artifacts
    assert "checkpoint" not in artifacts, "the state for --resume is not a result"


def test_without_mlflow_the_run_stops_before_any_work(tmp_path: Path) -> None:
    recipe = write(tmp_path / "tiny.yaml", TINY.replace("EPOCHS", "1"))
    hide = write(tmp_path / "hide" / "sitecustomize.py", "import sys\nsys.modules['mlflow'] = None\n")
    done = run_zoo(
        "run", str(recipe), "--runs-dir", str(tmp_path / "runs"), "--track", "mlflow",
        env={"PYTHONPATH": f"{hide.parent}:{ROOT}"},
    )  # fmt: skip
    assert done.code == 2, done.err
    assert "Error: track: mlflow needs MLflow" in done.err and "pip install 'erosion-zoo[mlflow]'" in done.err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_unknown_tracker_is_a_recipe_error(tmp_path: Path) -> None:
    recipe = write(tmp_path / "tiny.yaml", TINY.replace("EPOCHS", "1") + "track: mlfow\n")
    done = run_zoo("validate", str(recipe))
    assert done.code == 2
    assert "track.name: unknown tracker 'mlfow'; did you mean 'mlflow'?" in done.err
