"""Every bad sample is found before training, reported in one table, never silently dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write
from PIL import Image

from zoo.compose.plugins import get_registry
from zoo.compose.recipe import load_recipe
from zoo.data.prepare import DataProblems, prepare
from zoo.errors import ProblemsError, UsageError

RECIPE = """\
name: check_me
data:
  dataset: {{name: manifest, params: {{csv: {csv}, label_scale: {scale}}}}}
  target: {target}
  image_size: 64
  on_bad_sample: {on_bad}
model:
  backbone: {{name: thesis_vgg}}
  head: {{name: {head}}}
loss: {{name: {loss}}}
"""


def image(path: Path, seed: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (40, 40), dtype=np.uint8)).save(path, quality=90)
    return path.name


def bad_manifest(folder: Path) -> Path:
    """Twelve good samples and one sample of each problem."""
    rows = [f"good{i}.jpg,{i * 5},p{i},train" if i < 8 else f"good{i}.jpg,{i * 5},p{i},test" for i in range(12)]
    for i in range(12):
        image(folder / f"good{i}.jpg", i)
    image(folder / "whole.jpg", 99)
    whole = (folder / "whole.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "text.jpg").write_text("hello")
    for name in ("range.jpg", "nan.jpg", "word.jpg", "dup.jpg", "leak1.jpg", "leak2.jpg"):
        image(folder / name, hash(name) % 1000)
    rows += [
        "missing.jpg,10,q1,train",
        "truncated.jpg,10,q2,train",
        "text.jpg,10,q3,train",
        "range.jpg,140,q4,train",
        "nan.jpg,,q5,train",
        "word.jpg,severe,q6,train",
        "dup.jpg,10,q7,train",
        "dup.jpg,10,q7,train",
        "leak1.jpg,10,q8,train",
        "leak2.jpg,10,q8,test",
    ]
    return write(folder / "manifest.csv", "path,label,patient_id,split\n" + "\n".join(rows) + "\n")


def recipe_file(folder: Path, csv: Path, on_bad: str = "error", target: str = "stage", scale: str = "percent") -> Path:
    head, loss = ("cdf", "crps") if target == "percent" else ("softmax", "cross_entropy")
    text = RECIPE.format(csv=csv, scale=scale, target=target, on_bad=on_bad, head=head, loss=loss)
    return write(folder / "recipe.yaml", text)


EXPECTED = {
    ("missing.jpg", "missing file"),
    ("truncated.jpg", "truncated image"),
    ("text.jpg", "not a readable image"),
    ("range.jpg", "label out of range"),
    ("nan.jpg", "label missing"),
    ("word.jpg", "label is not a number"),
    ("dup.jpg", "duplicate id"),
    ("dup.jpg", "duplicate image"),
    ("leak1.jpg", "patient leakage"),
    ("leak2.jpg", "patient leakage"),
}


def test_check_reports_every_problem_in_one_table(zoo, tmp_path: Path) -> None:
    recipe = recipe_file(tmp_path, bad_manifest(tmp_path / "data"))
    result = zoo("data", "check", str(recipe), "--json")
    assert result.code == 2
    report = json.loads(result.out)
    found = {(p["sample_id"], p["problem"]) for p in report["problems"]}
    assert found == EXPECTED
    table = zoo("data", "check", str(recipe))
    assert table.code == 2
    for sample, problem in EXPECTED:
        assert sample in table.out and problem in table.out
    assert "Error: 12 problem(s) in 9 sample(s)" in table.err
    assert "Traceback" not in table.err


def test_run_refuses_bad_samples_unless_told_to_skip(tmp_path: Path) -> None:
    csv = bad_manifest(tmp_path / "data")
    registry = get_registry()
    with pytest.raises(DataProblems) as info:
        prepare(load_recipe(recipe_file(tmp_path, csv), registry), registry)
    assert len(info.value.details()) == 12
    prepared = prepare(load_recipe(recipe_file(tmp_path, csv, on_bad="skip"), registry), registry)
    assert sorted(prepared.table["sample_id"]) == sorted(f"good{i}.jpg" for i in range(12))
    assert set(prepared.problems["sample_id"]) == {s for s, _ in EXPECTED}, "the skipped samples stay listed"
    assert list(prepared.table["split"]) == ["train"] * 8 + ["test"] * 4, "the manifest's own split is kept"
    rows = prepared.table["pixel_row"].to_numpy()
    assert prepared.pixels[rows].shape == (12, 64, 64)


def test_labels_become_the_target(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    rows = [f"{image(folder / f'i{i}.jpg', i)},{v},p{i}" for i, v in enumerate([0, 5, 20, 21, 60, 100])]
    csv = write(folder / "m.csv", "path,label,patient_id\n" + "\n".join(rows) + "\n")
    registry = get_registry()
    for target, expected in (
        ("stage", [0, 1, 1, 2, 3, 5]),
        ("binary", [0, 1, 1, 1, 1, 1]),
        ("percent", [0, 5, 20, 21, 60, 100]),
        ("svdh_erosion", [0, 1, 2, 2, 4, 5]),  # 0; up to 10, 25, 50 %; below 100 %; 100 %
    ):
        recipe = load_recipe(recipe_file(tmp_path, csv, target=target), registry)
        table = prepare(recipe, registry).table.sort_values("sample_id")
        assert table["target"].tolist() == expected
    with pytest.raises(ProblemsError) as refused:  # at validation, before any data is read
        load_recipe(recipe_file(tmp_path, csv, target="stage", scale="binary"), registry)
    [problem] = refused.value.problems
    assert problem.path == "data.target"
    assert "gives binary labels, none of which can become target 'stage'" in problem.message


def test_a_run_refuses_bad_samples_or_lists_the_skipped_ones(zoo, tmp_path: Path) -> None:
    csv = bad_manifest(tmp_path / "data")
    text = (
        recipe_file(tmp_path, csv)
        .read_text()
        .replace(
            "loss: {name: cross_entropy}",
            "loss: {name: cross_entropy}\ntrain: {batch_size: 8, stages: [{epochs: 1}]}\neval: {bootstrap: 5}",
        )
    )
    text = text.replace(
        "model:\n  backbone: {name: thesis_vgg}",
        "model:\n  backbone: {name: thesis_vgg, params: {filters: [4, 4, 4, 4, 4, 4]}}",
    )
    refused = zoo("run", str(write(tmp_path / "strict.yaml", text)), "--runs-dir", str(tmp_path / "runs"))
    assert refused.code == 2
    assert "missing.jpg: missing file" in refused.err and "Error: 12 problem(s) in 9 sample(s)" in refused.err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "no run folder for a refused run"
    lenient = write(tmp_path / "lenient.yaml", text.replace("on_bad_sample: error", "on_bad_sample: skip"))
    result = zoo("run", str(lenient), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err
    folder = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert "the val split has no patients and is not evaluated" in result.err
    assert json.loads((folder / "metrics.json").read_text())["empty_splits"] == ["val"], "recorded in the run"
    skipped = pd.read_csv(folder / "skipped.csv")
    assert {(s, p) for s, p in zip(skipped["sample_id"], skipped["problem"], strict=True)} == EXPECTED


def test_check_lists_the_problems_when_every_sample_is_bad(zoo, tmp_path: Path) -> None:
    rows = [f"gone{i}.jpg,{i * 5},p{i}" for i in range(4)]
    csv = write(tmp_path / "data" / "manifest.csv", "path,label,patient_id\n" + "\n".join(rows) + "\n")
    recipe = recipe_file(tmp_path, csv)
    result = zoo("data", "check", str(recipe))
    assert result.code == 2
    assert all(f"gone{i}.jpg" in result.out for i in range(4)) and "missing file" in result.out
    assert "no sample is usable" in result.err and "zoo data check" not in result.err.split("Hint:")[1]
    as_json = zoo("data", "check", str(recipe), "--json")
    assert len(json.loads(as_json.out)["problems"]) == 4


def test_a_blank_patient_id_is_a_bad_sample(zoo, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    rows = [f"{image(folder / f'i{i}.jpg', i)},{i * 5},{'' if i == 3 else f'p{i}'}" for i in range(8)]
    csv = write(folder / "manifest.csv", "path,label,patient_id\n" + "\n".join(rows) + "\n")
    result = zoo("data", "check", str(recipe_file(tmp_path, csv)))
    assert result.code == 2
    assert "i3.jpg" in result.out and "patient id missing" in result.out


def test_a_target_is_learned_from_the_label_column_that_reaches_it() -> None:
    from zoo.data.prepare import label_scale

    both = pd.DataFrame({"percent": [10], "svdh_jsn": [2]})
    assert label_scale(both, "d", "stage") == "percent" and label_scale(both, "d", "svdh_jsn") == "svdh_jsn"
    assert label_scale(both, "d", "svdh_erosion") == "percent"
    with pytest.raises(UsageError, match="gives percent, stage labels, each of which can become target 'binary'"):
        label_scale(pd.DataFrame({"percent": [10], "stage": [1]}), "d", "binary")
    with pytest.raises(UsageError, match="gives svdh_jsn labels, none of which can become target 'stage'"):
        label_scale(pd.DataFrame({"svdh_jsn": [1]}), "d", "stage")


def test_grades_missing_or_out_of_range_for_a_jsn_target_are_listed(zoo, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    rows = [f"{image(folder / f'i{i}.jpg', i)},10,p{i},{g}" for i, g in enumerate(["0", "2", "", "5", "1.5", "4"])]
    csv = write(folder / "m.csv", "path,label,patient_id,jsn\n" + "\n".join(rows) + "\n")
    recipe = RECIPE.format(csv=csv, scale="percent", target="svdh_jsn", on_bad="error", head="softmax",
                           loss="cross_entropy").replace("label_scale: percent", "label_scale: percent, jsn_column: jsn")
    result = zoo("data", "check", str(write(tmp_path / "r.yaml", recipe)), "--format", "csv")  # fmt: skip
    assert result.code == 2
    assert "i2.jpg,label missing" in result.out  # never filled with a 0
    assert "i3.jpg,label out of range" in result.out and "i4.jpg,label is not a whole number" in result.out
    assert result.out.count("\n") == 4  # a header and the three, nothing else
