"""Trained models that ship: the bundles in the package, and a run's round trip through export,
install, scoring by name and retraining from the bundle's own recipe."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tests.conftest import TrainedRun, phantom_crops
from zoo.compose.bundles import read_bundle
from zoo.compose.plugins import get_registry

SHIPPED = ("joint-locator", "erosion-scorer")
PACKAGE = Path(__file__).resolve().parent.parent / "plugins" / "models"


@pytest.fixture
def models_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models store of the test's own."""
    store = tmp_path / "store"
    monkeypatch.setenv("ZOO_MODELS_DIR", str(store))
    return store


def test_the_package_ships_two_checked_bundles_within_20_mb(zoo) -> None:
    result = zoo("models", "list", "--format", "json")
    assert result.code == 0, result.err
    rows = {row["name"]: row for row in json.loads(result.out)}
    assert set(SHIPPED) <= set(rows)
    assert rows["joint-locator"]["target"] == "landmarks" and rows["erosion-scorer"]["target"] == "stage"
    total = sum((PACKAGE / name.replace("-", "_") / "model.safetensors").stat().st_size for name in SHIPPED)
    assert total <= 20e6
    for name in SHIPPED:
        info = read_bundle(PACKAGE / name.replace("-", "_"))  # the weights' sha256 is checked too
        assert info.name == name and info.headline.value is not None and info.headline.bootstrap_95


def test_each_card_says_what_a_user_must_know(zoo) -> None:
    for name in SHIPPED:
        result = zoo("models", "show", name)
        assert result.code == 0, result.err
        for section in ("## Intended use", "## Training data", "## Measured limits", "## Licence"):
            assert section in result.out, (name, section)
    scorer = zoo("models", "show", "erosion-scorer").out
    assert "trained on synthetic joints" in scorer and "not validated on patients" in scorer
    config = json.loads((PACKAGE / "erosion_scorer" / "config.json").read_text())
    assert "synthetic" in config["caveat"]


def test_a_bundle_with_changed_weights_is_refused(tmp_path: Path, zoo) -> None:
    copy = shutil.copytree(PACKAGE / "erosion_scorer", tmp_path / "scorer")
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    result = zoo("models", "show", str(copy))
    assert result.code == 2
    assert "is not the file its bundle.json describes (sha256 differs)" in result.err
    Image.new("L", (64, 64), 90).save(tmp_path / "crop.png")
    scored = zoo("predict", "--scorer", str(copy), str(tmp_path / "crop.png"))  # every use checks, not only show
    assert scored.code == 2 and "sha256 differs" in scored.err


def test_an_unknown_model_name_suggests_the_known_ones(zoo) -> None:
    result = zoo("models", "show", "joint-locater")
    assert result.code == 2
    assert "did you mean 'joint-locator'?" in result.err


def test_export_install_and_score_by_name(tiny_cdf_run: TrainedRun, tmp_path: Path, models_store: Path, zoo) -> None:
    bundle = tmp_path / "bundle"
    result = zoo(
        "models", "export", str(tiny_cdf_run.folder), "--out", str(bundle), "--name", "tiny-cdf",
        "--description", "a tiny CDF model", "--licence", "CC0-1.0", "--caveat", "trained on a tiny phantom", "--half",
    )  # fmt: skip
    assert result.code == 0, result.err
    info = read_bundle(bundle)
    assert info.weights_dtype == "float16" and info.data_fingerprint
    assert not list(bundle.glob("predictions-*.csv")) and not (bundle / "split.csv").exists()  # no sample ids
    report = zoo("analyze", str(bundle))
    assert report.code == 2 and "was exported without its samples" in report.err
    assert (bundle / "model.safetensors").stat().st_size < (tiny_cdf_run.folder / "model.safetensors").stat().st_size
    run_metrics = json.loads((tiny_cdf_run.folder / "metrics.json").read_text())
    bundle_metrics = json.loads((bundle / "metrics.json").read_text())
    for split, result_ in run_metrics["splits"].items():  # half precision: the metrics hold
        for name, entry in result_["metrics"].items():
            assert bundle_metrics["splits"][split]["metrics"][name]["value"] == pytest.approx(entry["value"], rel=1e-3)
    assert zoo("models", "install", str(bundle)).code == 0
    again = zoo("models", "install", str(bundle))
    assert again.code == 2 and "already installed" in again.err
    listed = zoo("models", "list", "--format", "json")
    assert "tiny-cdf" in {row["name"] for row in json.loads(listed.out)}
    crops = [str(p) for p in phantom_crops(6)]
    by_name = zoo("predict", "--scorer", "tiny-cdf", *crops, "--format", "json")
    by_run = zoo("predict", str(tiny_cdf_run.folder), *crops, "--format", "json")
    assert by_name.code == 0 and by_run.code == 0, by_name.err + by_run.err
    named, ran = json.loads(by_name.out), json.loads(by_run.out)
    assert named["caveat"] == "trained on a tiny phantom" and "caveat" not in ran
    assert [j["stage"] for j in named["joints"]] == [j["stage"] for j in ran["joints"]]
    percent = pd.DataFrame(named["joints"])["percent"] - pd.DataFrame(ran["joints"])["percent"]
    assert percent.abs().max() < 0.5


def test_a_bundles_recipe_reproduces_its_metrics(tiny_cdf_run: TrainedRun, tmp_path: Path, zoo) -> None:
    bundle = tmp_path / "bundle"
    exported = zoo(
        "models", "export", str(tiny_cdf_run.folder), "--out", str(bundle), "--name", "tiny-cdf",
        "--description", "a tiny CDF model", "--licence", "CC0-1.0",
    )  # fmt: skip
    assert exported.code == 0, exported.err
    result = zoo("run", str(bundle / "recipe.yaml"), "--runs-dir", str(tmp_path / "runs"), "--format", "json")
    assert result.code == 0, result.err
    again = json.loads(result.out)[0]["splits"]
    shipped = json.loads((bundle / "metrics.json").read_text())["splits"]
    for split, measured in shipped.items():
        for name, entry in measured["metrics"].items():
            low, high = entry["bootstrap_95"]
            assert low - 1e-9 <= again[split]["metrics"][name]["value"] <= high + 1e-9, (split, name)


def test_export_refuses_what_it_cannot_do(tiny_cdf_run: TrainedRun, tmp_path: Path, zoo) -> None:
    full = tmp_path / "full"
    (full / "x").mkdir(parents=True)
    args = ["--name", "t", "--description", "d", "--licence", "l"]
    taken = zoo("models", "export", str(tiny_cdf_run.folder), "--out", str(full), *args)
    assert taken.code == 2 and "is not empty" in taken.err
    bad_name = zoo("models", "export", str(tiny_cdf_run.folder), "--out", str(tmp_path / "b"), "--name", "Bad Name",
                   "--description", "d", "--licence", "l")  # fmt: skip
    assert bad_name.code == 2 and "is not a model name" in bad_name.err
    not_run = zoo("models", "export", str(tmp_path), "--out", str(tmp_path / "c"), *args)
    assert not_run.code == 2 and "is not a finished run" in not_run.err
    wordy = zoo("models", "export", str(tiny_cdf_run.folder), "--out", str(tmp_path / "d"), "--name", "t",
                "--description", "d" * 301, "--licence", "l", "--half")  # fmt: skip
    assert wordy.code == 2 and "--description is longer than 300 characters" in wordy.err
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_samples_go_into_a_bundle_only_on_request(tiny_cdf_run: TrainedRun, tmp_path: Path, zoo) -> None:
    args = ["--name", "t", "--description", "d", "--licence", "l"]
    result = zoo("models", "export", str(tiny_cdf_run.folder), "--out", str(tmp_path / "b"), *args, "--with-samples")
    assert result.code == 0, result.err
    assert (tmp_path / "b" / "split.csv").is_file() and list((tmp_path / "b").glob("predictions-*.csv"))


def test_a_bundle_cannot_take_a_shipped_models_name(tmp_path: Path, models_store: Path, zoo) -> None:
    shipped = Path(get_registry().get("models", "erosion-scorer").build())
    result = zoo("models", "install", str(shipped))
    assert result.code == 2 and "'erosion-scorer' is the name of a model a plugin ships" in result.err
    assert not (models_store / "erosion-scorer").exists()


def test_plugins_register_bundles_like_components() -> None:
    spec = get_registry().get("models", "joint-locator")
    assert spec.plugin == "models" and spec.targets == frozenset({"landmarks"})
    assert Path(spec.build()).is_dir()


def test_a_locator_is_no_scorer(tmp_path: Path, zoo) -> None:
    crop = tmp_path / "crop.png"
    Image.new("L", (64, 64), 90).save(crop)
    result = zoo("predict", "--scorer", "joint-locator", str(crop))
    assert result.code == 2
    assert "locates points; it does not score joints" in result.err


def test_a_recipe_starts_from_a_trained_model(tiny_cdf_run: TrainedRun, tmp_path: Path, zoo) -> None:
    from tests.conftest import TINY_CDF, write

    (tmp_path / "recipes").mkdir()
    relative = os.path.relpath(tiny_cdf_run.folder, tmp_path / "recipes")  # to the recipe's folder
    recipe = TINY_CDF.replace("  head: {name: cdf, params: {hidden: [32]}}\n", "  head: {name: cdf, params: {hidden: [32]}}\n"
                              f"  pretrained: {relative}\n")  # fmt: skip
    assert "pretrained:" in recipe
    result = zoo("run", str(write(tmp_path / "recipes" / "r.yaml", recipe)), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err
    assert "model.pretrained: " in result.err and " tensors loaded from " in result.err
    loaded, total = result.err.split("model.pretrained: ")[1].split(" tensors")[0].split(" of ")
    assert loaded == total  # the same backbone and head: every tensor
    unfit = write(tmp_path / "u.yaml", recipe.replace(relative, "joint-locator"))
    refused = zoo("run", str(unfit), "--runs-dir", str(tmp_path / "runs"))
    assert refused.code == 2 and "fits this recipe's model" in refused.err
