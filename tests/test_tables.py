"""Result tables fit 80 columns without wrapping a cell, and every result command speaks `--format`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CDF, TrainedRun, phantom_crops, write
from PIL import Image
from rich.cells import cell_len

from tests.test_data_check import bad_manifest, recipe_file
from zoo.compose.plugins import get_registry
from zoo.judging import leaderboard

STAGE_METRICS = ("class_normalised_accuracy", "class_normalised_accuracy_pm1", "accuracy", "quadratic_weighted_kappa")
RUNS = (
    "quickstart-20250101-120000",
    "table4b_vgg_softmax_oversample-20250102-093000",
    "resnet50_cdf_imagenet-20250103-180000-2",
)
@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")


def board_row(run: str, value: float) -> dict:
    """A leaderboard row of a stage run with every stage metric, as `zoo run` writes it."""
    recipe = run.split("-")[0]
    metrics = {
        name: {"value": value - i / 10, "bootstrap_95": [value - 0.05, value + 0.05]}
        for i, name in enumerate(STAGE_METRICS)
    }
    return {
        "run_id": run, "recipe": recipe, "target": "stage", "backbone": "thesis_vgg", "head": "softmax",
        "loss": "cross_entropy", "imbalance": "class_weights", "dataset": "phantom",
        "dataset_fingerprint": "0123456789abcdef", "split": "test", "n": 1234, "metrics": metrics,
    }  # fmt: skip


def tables(out: str) -> list[tuple[list[str], list[str]]]:
    """The header lines and the body lines of each rich table in `out`, in order."""
    found: list[tuple[list[str], list[str]]] = []
    for line in out.splitlines():
        if line.startswith("┏"):
            found.append(([], []))
        elif line.startswith("┃"):
            found[-1][0].append(line)
        elif line.startswith("│"):
            found[-1][1].append(line)
    return found


def assert_fits(out: str, rows: list[int], width: int = 80) -> None:
    """Every table has a one-line header and one line per row, and no table is wider than `width`."""
    shown = tables(out)
    assert [len(header) for header, _ in shown] == [1] * len(rows), out
    assert [len(body) for _, body in shown] == rows, out
    assert max(cell_len(line) for line in out.splitlines() if line[:1] in "┏┃┡│└") <= width, out


def test_the_leaderboard_fits_80_columns_with_short_labels_and_a_legend(zoo, narrow, tmp_path: Path) -> None:
    leaderboard.append(tmp_path / "leaderboard.jsonl", [board_row(run, 0.8 - i / 10) for i, run in enumerate(RUNS)])
    result = zoo("leaderboard", "--runs-dir", str(tmp_path))
    assert result.code == 0, result.err
    assert_fits(result.out, [len(RUNS)])
    (header,), body = tables(result.out)[0]
    for run in RUNS:
        assert len([line for line in body if run in line]) == 1, f"run id {run} is whole on one line"
    assert "CNA" in header and "class_normalised_accuracy" not in header
    legend = result.out.split("└")[-1].splitlines()[1:]
    assert "CNA = class_normalised_accuracy" in result.out, "the legend spells the label out"
    assert legend and max(cell_len(line) for line in legend) <= 80, "the legend breaks between its entries"
    assert zoo("leaderboard", "--runs-dir", str(tmp_path), "--format", "table").out == result.out
    assert "model" not in header, "the least important column gives way first"


def test_the_table_width_follows_columns(zoo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    leaderboard.append(tmp_path / "leaderboard.jsonl", [board_row(run, 0.8) for run in RUNS])
    monkeypatch.setenv("COLUMNS", "200")
    wide = zoo("leaderboard", "--runs-dir", str(tmp_path))
    assert_fits(wide.out, [len(RUNS)], width=200)
    assert "model" in tables(wide.out)[0][0][0] and "QWK" in tables(wide.out)[0][0][0]
    monkeypatch.setenv("COLUMNS", "60")
    tight = zoo("leaderboard", "--runs-dir", str(tmp_path))
    assert_fits(tight.out, [len(RUNS)], width=60)
    assert all(any(run in line for line in tables(tight.out)[0][1]) for run in RUNS), "run ids stay whole"


def test_columns_picks_the_columns_and_checks_them(zoo, narrow, tmp_path: Path) -> None:
    leaderboard.append(tmp_path / "leaderboard.jsonl", [board_row(run, 0.8) for run in RUNS])
    picked = zoo("leaderboard", "--runs-dir", str(tmp_path), "--columns", "run,quadratic_weighted_kappa")
    assert picked.code == 0
    assert [part.strip() for part in tables(picked.out)[0][0][0].strip("┃").split("┃")] == ["run", "QWK"]
    for command in (
        ["leaderboard", "--runs-dir", str(tmp_path)],
        ["list"],
        ["evaluate", str(tmp_path / "missing.csv"), "--target", "stage"],
    ):
        bad = zoo(*command, "--columns", "nope")
        assert bad.code == 2, command
        lines = bad.err.splitlines()
        assert lines[0] == "Error: --columns: no column 'nope'" and lines[1].startswith("Hint: columns: "), lines
        assert len([line for line in lines if line.startswith("Error:")]) == 1


def test_zoo_list_fits_80_columns(zoo, narrow) -> None:
    registry = get_registry()
    every = zoo("list")
    assert every.code == 0
    assert_fits(every.out, [len(registry.components())])
    heads = zoo("list", "heads")
    assert_fits(heads.out, [len(registry.components("heads"))])
    metrics = zoo("list", "metrics")
    assert_fits(metrics.out, [len(registry.components("metrics"))])
    assert "CNA±1" in metrics.out, "one kind shows its labels"


def test_zoo_evaluate_fits_80_columns(zoo, narrow, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 6, 60)
    frame = pd.DataFrame(
        {
            "patient_id": [f"p{i % 15}" for i in range(60)],
            "y_true": truth,
            "y_pred": np.clip(truth + rng.integers(-1, 2, 60), 0, 5),
        }
    )
    frame.to_csv(tmp_path / "stage.csv", index=False)
    result = zoo("evaluate", str(tmp_path / "stage.csv"), "--target", "stage", "--bootstrap", "10")
    assert result.code == 0, result.err
    scored = json.loads(
        zoo("evaluate", str(tmp_path / "stage.csv"), "--target", "stage", "--bootstrap", "10", "--json").out
    )
    assert_fits(result.out, [len(scored["metrics"]), 6])


def test_zoo_data_check_fits_80_columns(zoo, narrow, tmp_path: Path) -> None:
    recipe = recipe_file(tmp_path, bad_manifest(tmp_path / "data"))
    result = zoo("data", "check", str(recipe))
    assert result.code == 2
    assert_fits(result.out, [12])
    as_csv = list(csv.reader(io.StringIO(zoo("data", "check", str(recipe), "--format", "csv").out)))
    assert as_csv[0] == ["sample_id", "problem", "detail", "image"] and len(as_csv) == 13


def crop_input(folder: Path) -> tuple[Path, Path]:
    """A radiograph folder and a joints file with one joint that cannot be cropped."""
    images = folder / "images"
    images.mkdir()
    Image.fromarray(np.full((200, 200), 90, np.uint8)).save(images / "a.png")
    joints = write(folder / "joints.csv", "image,joint,x,y\na.png,MCP2,50,50\na.png,MCP3,90,52\nb.png,MCP2,50,50\n")
    return images, joints


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--format", "json"],
        ["list", "heads", "--json"],
        ["plugins", "--format", "json"],
        ["weights", "list", "--format", "json"],
    ],
)
def test_format_json_is_json_alone(zoo, args: list[str]) -> None:
    result = zoo(*args)
    assert result.code == 0, result.err
    assert json.loads(result.out)


def test_format_json_of_the_commands_that_take_files(zoo, tmp_path: Path) -> None:
    leaderboard.append(tmp_path / "leaderboard.jsonl", [board_row(run, 0.8) for run in RUNS])
    board = json.loads(zoo("leaderboard", "--runs-dir", str(tmp_path), "--format", "json").out)
    assert [row["run_id"] for row in board[0]["rows"]] == list(RUNS)
    pd.DataFrame({"y_true": [0, 1, 1, 0], "y_pred": [0, 1, 0, 0]}).to_csv(tmp_path / "binary.csv", index=False)
    scored = [
        zoo("evaluate", str(tmp_path / "binary.csv"), "--target", "binary", *option, "--bootstrap", "5")
        for option in (["--json"], ["--format", "json"])
    ]
    assert json.loads(scored[0].out) == json.loads(scored[1].out)
    checked = zoo("data", "check", str(recipe_file(tmp_path, bad_manifest(tmp_path / "data"))), "--format", "json")
    assert checked.code == 2 and len(json.loads(checked.out)["problems"]) == 12
    images, joints = crop_input(tmp_path)
    cropped = zoo(
        "data",
        "crop",
        "--images",
        str(images),
        "--joints",
        str(joints),
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
    )
    assert cropped.code == 2 and json.loads(cropped.out)["finger_joints"] == 2
    assert json.loads(cropped.out)["not_cropped"][0]["image"] == "b.png"
    table = zoo("data", "crop", "--images", str(images), "--joints", str(joints), "--out", str(tmp_path / "o2"))
    assert "b.png" in table.out and "wrote 2 finger-joint crops" in table.out


def test_json_and_format_must_agree(zoo) -> None:
    result = zoo("list", "--json", "--format", "csv")
    assert result.code == 2 and result.err.startswith("Error: --json and --format csv disagree")


def test_csv_and_markdown_of_a_listing(zoo) -> None:
    rows = list(csv.reader(io.StringIO(zoo("plugins", "--format", "csv").out)))
    assert rows[0] == ["plugin", "source", "version", "registers", "status"] and len(rows) > 5
    markdown = zoo("list", "metrics", "--format", "markdown").out
    assert "| name | label | plugin | description | params |" in markdown
    assert "| class_normalised_accuracy_pm1 | CNA±1 |" in markdown


def test_run_and_predict_print_json(zoo, tiny_cdf_run: TrainedRun, tmp_path: Path) -> None:
    result = tiny_cdf_run.result  # `zoo run tiny_cdf.yaml --format json`, run once for the session
    assert result.code == 0, result.err
    (finished,) = json.loads(result.out)
    assert set(finished["splits"]) == {"val", "test"} and Path(finished["run_dir"]).is_dir()
    recipe = write(tmp_path / "tiny.yaml", TINY_CDF)
    assert zoo("run", str(recipe), "--format", "csv").code == 2
    inputs = [str(p) for p in phantom_crops(2)]
    predicted = zoo("predict", finished["run_dir"], *inputs, "--format", "json")
    assert "joints" in json.loads(predicted.out)
    as_csv = list(csv.reader(io.StringIO(zoo("predict", finished["run_dir"], *inputs, "--format", "csv").out)))
    assert as_csv[0][:2] == ["sample_id", "status"]
    refused = zoo("predict", finished["run_dir"], *inputs, "--format", "table", "--out", str(tmp_path / "p.csv"))
    assert refused.code == 2 and refused.err.startswith("Error: --out writes csv or json")
