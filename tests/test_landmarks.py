"""Landmarks as a target: the dataset, the labels' checks, augmentation that moves the points, the
heatmap head and loss, the radial-error metrics, and a tiny locator trained and judged end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from zoo_plugins.heads.heatmap import peaks
from zoo_plugins.losses.heatmap import HeatmapLoss

from tests.conftest import built_once, write, zoo_in_process
from zoo.data.point_augment import PointsAugment
from zoo.images import prepare
from zoo.landmarks import parse_points, to_pixels, to_unit
from zoo.predictions import read_predictions

NAMES = ["A", "B", "C"]
SHAPE = np.array([[20.0, 16.0], [60.0, 20.0], [40.0, 50.0]])  # the three points of an 80 x 64 image


def synthetic_landmarks(folder: Path, count: int = 24) -> Path:
    """Images with a bright blob at each of three named points (jittered), and their landmarks CSV."""
    rng = np.random.default_rng(0)
    rows = []
    (folder / "images").mkdir(parents=True, exist_ok=True)
    ys, xs = np.mgrid[0:64, 0:80]
    for i in range(count):
        points = SHAPE + rng.normal(0, 3, SHAPE.shape)
        pixels = np.zeros((64, 80))
        for k, (x, y) in enumerate(points):
            pixels += (1.0 - 0.25 * k) * np.exp(-((xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2) / 8)
        Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(folder / "images" / f"img{i:02d}.png")
        split = "train" if i < 16 else "valid"
        rows += [
            {"image": f"img{i:02d}.png", "split": split, "landmark": n, "x": x, "y": y}
            for n, (x, y) in zip(NAMES, points, strict=True)
        ]
    pd.DataFrame(rows).to_csv(folder / "landmarks.csv", index=False)
    return folder / "landmarks.csv"


TINY_LOCATOR = """\
name: tiny_locator
data:
  dataset: {{name: landmark_table, params: {{csv: {csv}}}}}
  target: landmarks
  landmarks: [A, B, C]
  image_size: 64
  augment: {{rotation: 10, shear: 0.0, zoom: 0.05, shift: 0.02, flip: false, contrast: 0.1}}
model:
  backbone: {{name: feature_pyramid, params: {{pretrained: false, channels: 16}}}}
  head: {{name: heatmap, params: {{hidden: 16}}}}
loss: heatmap
train: {{batch_size: 8, optimizer: {{name: adamw, lr: 0.003}}, stages: [{{epochs: 3}}]}}
eval: {{splits: [val], bootstrap: 20}}
"""


@pytest.fixture(scope="session")
def tiny_locator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny locator trained on the synthetic landmarks, once per session."""

    def train(folder: Path) -> None:
        csv = synthetic_landmarks(folder / "data")
        recipe = write(folder / "locator.yaml", TINY_LOCATOR.format(csv=csv))
        result = zoo_in_process("run", str(recipe), "--runs-dir", str(folder / "runs"))
        assert result.code == 0, result.err

    folder = built_once(tmp_path_factory, "tiny-locator", train)
    return next(p for p in (folder / "runs").iterdir() if p.is_dir())


# -- augmentation ------------------------------------------------------------------------------


def dot_batch(count: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images with one bright pixel at each of two points (the first brighter), and the points."""
    generator = torch.Generator().manual_seed(seed)
    points = torch.rand(count, 2, 2, generator=generator) * 0.5 + 0.25
    images = torch.zeros(count, 1, size, size, dtype=torch.uint8)
    for i in range(count):
        for k, value in enumerate((255, 120)):
            x, y = (points[i, k] * size).long()
            images[i, 0, y, x] = value
            points[i, k] = (torch.stack([x, y]).float() + 0.5) / size  # the pixel's centre
    return images, points


def test_points_follow_the_pixels() -> None:
    size = 96
    images, points = dot_batch(32, size, seed=1)
    augment = PointsAugment(rotation=30, shear=0.1, zoom=0.15, shift=0.05, flip=True, contrast=0.2)
    warped, moved = augment.apply(images, points, torch.Generator().manual_seed(0))
    assert warped.dtype == torch.float32 and warped.shape == images.shape
    for i in range(len(images)):
        brightest = int(torch.argmax(warped[i, 0]))
        row, column = divmod(brightest, size)
        where = torch.tensor([column + 0.5, row + 0.5]) / size
        assert float((moved[i, 0] - where).norm()) * size < 1.5  # within a pixel and a half of the warped dot


def test_a_flip_swaps_the_named_pairs_and_nothing_else() -> None:
    size = 64
    images, points = dot_batch(64, size, seed=2)
    augment = PointsAugment(rotation=0, shear=0, zoom=0, flip=True, swap=[(0, 1)])
    warped, moved = augment.apply(images, points, torch.Generator().manual_seed(3))
    mirrored = torch.stack([1 - points[..., 0], points[..., 1]], dim=-1)
    flipped = torch.isclose(moved[:, 0], mirrored[:, 1], atol=1e-4).all(dim=1)
    assert 10 < int(flipped.sum()) < 54  # about half the batch
    assert torch.allclose(moved[flipped, 1], mirrored[flipped, 0], atol=1e-4)  # the pair traded names
    assert torch.allclose(moved[~flipped], points[~flipped], atol=1e-4)
    assert torch.equal(warped[flipped], torch.flip(images[flipped].float() / 255, dims=[3]))


def test_the_same_seed_gives_the_same_batch_and_leaves_torch_alone() -> None:
    images, points = dot_batch(8, 32, seed=4)
    augment = PointsAugment(rotation=30, zoom=0.1, shift=0.05, flip=True, contrast=0.2)
    torch.manual_seed(7)
    first = augment.apply(images, points, torch.Generator().manual_seed(5))
    after_first = torch.rand(1)
    torch.manual_seed(7)
    second = augment.apply(images, points, torch.Generator().manual_seed(5))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert torch.equal(after_first, torch.rand(1))  # the global stream is where it was


# -- positions ---------------------------------------------------------------------------------


def test_unit_coordinates_are_where_the_model_sees_the_point() -> None:
    image = Image.new("L", (90, 50), 0)
    image.putpixel((70, 12), 255)
    seen = prepare(image, 180)  # padded to 90 x 90, then doubled
    row, column = np.unravel_index(np.argmax(seen), seen.shape)
    unit = to_unit(np.array([[[70.5, 12.5]]]), np.array([[90, 50]]))[0, 0]
    assert np.allclose(unit * 180, [column + 0.5, row + 0.5], atol=1.0)
    back = to_pixels(unit[None, None], np.array([[90, 50]]))
    assert np.allclose(back, [[[70.5, 12.5]]])


@pytest.mark.parametrize(
    "label,problem",
    [
        (None, "label missing"),
        ("not json", "label is not a JSON object of points"),
        ("[1, 2]", "label is not a JSON object of points"),
        ('{"A": [1, 2], "B": [3, 4]}', "landmark C missing"),
        ('{"A": [1, 2], "B": [3, 4], "C": ["x", 4]}', "landmark C: not an [x, y] pair of numbers"),
        ('{"A": [1, 2], "B": [3, 4], "C": [1e999, 4]}', "landmark C: not an [x, y] pair of numbers"),
        ('{"A": [1, 2], "B": [300, 4], "C": [5, 6]}', "landmark B lies outside the image"),
    ],
)
def test_bad_point_labels_say_what_is_wrong(label: object, problem: str) -> None:
    points, reason = parse_points(label, NAMES, 80, 64)
    assert points is None and reason == problem


# -- head and loss -----------------------------------------------------------------------------


def test_the_heatmap_peak_is_read_finer_than_a_cell() -> None:
    ys, xs = torch.meshgrid(torch.arange(24.0), torch.arange(32.0), indexing="ij")
    x0, y0 = 10.3, 7.6  # cell coordinates of the point (cell centres at i + 0.5)
    logits = -(((xs + 0.5 - x0) ** 2 + (ys + 0.5 - y0) ** 2) / (2 * 1.5**2))
    predicted = peaks(logits[None, None] * 4, window=2)
    x, y = predicted["pred"][0, 0].tolist()
    assert abs(x * 32 - x0) < 0.1 and abs(y * 24 - y0) < 0.1
    assert predicted["confidence"][0, 0] > 0.9
    flat = peaks(torch.zeros(1, 1, 24, 32), window=2)
    assert flat["confidence"][0, 0] < 0.05  # a map sure of nothing: the point is not found


def test_the_loss_prefers_the_true_position_and_ignores_points_outside() -> None:
    loss = HeatmapLoss(sigma=1.5, position_weight=0.04)
    target = torch.tensor([[[0.3, 0.4]]])
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")

    def peaked(x: float, y: float) -> torch.Tensor:
        return -(((xs + 0.5 - x * 16) ** 2 + (ys + 0.5 - y * 16) ** 2) / 2)[None, None]

    assert loss(peaked(0.3, 0.4), target) < loss(peaked(0.6, 0.4), target)
    outside = torch.tensor([[[1.3, 0.4]]])
    assert float(loss(peaked(0.6, 0.4), outside)) == 0.0


# -- the dataset -------------------------------------------------------------------------------


def test_the_dataset_makes_one_sample_per_image(tmp_path: Path) -> None:
    from zoo_plugins.datasets.landmark_table import build
    from zoo_plugins.datasets.params import LandmarkTableParams

    csv = synthetic_landmarks(tmp_path, count=4)
    table = build(LandmarkTableParams(csv=str(csv)))
    assert list(table["sample_id"]) == ["img00", "img01", "img02", "img03"]
    assert set(table["split"]) == {"train"}
    assert table["patient_id"].tolist() == table["sample_id"].tolist()  # no patient column: one per image
    points = json.loads(table["landmarks"].iloc[0])
    assert list(points) == NAMES and len(points["A"]) == 2


def test_a_per_image_column_that_differs_within_an_image_is_refused(tmp_path: Path, zoo) -> None:
    csv = synthetic_landmarks(tmp_path, count=2)
    table = pd.read_csv(csv)
    table.loc[1, "split"] = "test"  # img00's second point in another split
    table.to_csv(csv, index=False)
    recipe = write(tmp_path / "r.yaml", TINY_LOCATOR.format(csv=csv))
    result = zoo("data", "check", str(recipe))
    assert result.code == 2
    assert "image 'img00.png' has 2 different values in column 'split'" in result.err


def test_data_check_lists_every_bad_point_label(tmp_path: Path, zoo) -> None:
    csv = synthetic_landmarks(tmp_path, count=20)
    table = pd.read_csv(csv, dtype=str)
    table = table[~((table["image"] == "img01.png") & (table["landmark"] == "C"))]  # a point missing
    table.loc[table["image"] == "img02.png", "x"] = "500"  # outside the 80 px image
    table.loc[(table["image"] == "img03.png") & (table["landmark"] == "B"), "y"] = "abc"
    repeat = table[(table["image"] == "img04.png") & (table["landmark"] == "A")]
    table = pd.concat([table, repeat], ignore_index=True)  # a point listed twice
    table.to_csv(csv, index=False)
    recipe = write(tmp_path / "r.yaml", TINY_LOCATOR.format(csv=csv))
    result = zoo("data", "check", str(recipe), "--format", "csv")
    assert result.code == 2
    assert "img01,landmark C missing" in result.out
    assert "img02,landmark A lies outside the image" in result.out
    assert 'img03,"landmark B: not an [x, y] pair of numbers"' in result.out
    assert "img04,landmark A: given more than once" in result.out


# -- recipes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change,message",
    [
        (("  landmarks: [A, B, C]\n", ""), "needs data.landmarks"),
        (("landmarks: [A, B, C]", "landmarks: [A, B, A]"), "names a point more than once"),
        (("flip: false,", "flip: true, swap_on_flip: [[A, D]],"), "names 'D', which is not in data.landmarks"),
        (("loss: heatmap\n", "loss: heatmap\nimbalance: oversample\n"), "does not support target 'landmarks'"),
        (("head: {name: heatmap, params: {hidden: 16}}", "head: softmax"), "does not support target 'landmarks'"),
    ],
)
def test_recipes_of_locators_are_checked(tmp_path: Path, zoo, change: tuple[str, str], message: str) -> None:
    text = TINY_LOCATOR.format(csv="x.csv")
    assert change[0] in text
    recipe = write(tmp_path / "r.yaml", text.replace(*change))
    result = zoo("validate", str(recipe))
    assert result.code == 2
    assert message in result.err + result.out


def test_crop_recipes_refuse_the_landmark_augmentations(tmp_path: Path, zoo) -> None:
    recipe = write(
        tmp_path / "r.yaml",
        "name: c\ndata:\n  dataset: {name: phantom}\n  target: stage\n  augment: {shift: 0.1}\n"
        "model: {backbone: thesis_vgg, head: softmax}\nloss: cross_entropy\n",
    )
    result = zoo("validate", str(recipe))
    assert result.code == 2
    assert "augment.shift, contrast and swap_on_flip are for landmarks targets" in result.err + result.out


# -- a trained locator -------------------------------------------------------------------------


def test_a_locator_is_judged_in_pixels_per_point(tiny_locator: Path) -> None:
    results = json.loads((tiny_locator / "metrics.json").read_text())
    val = results["splits"]["val"]
    assert val["n"] == 8 and results["target"] == "landmarks"
    assert set(val["metrics"]) == {"median_radial_error", "p95_radial_error", "within_20px", "not_found"}
    assert set(val["landmarks"]) == set(NAMES)
    assert results["baselines"]["val"]["predictor"] == "mean_shape"
    predictions = pd.read_csv(tiny_locator / "predictions-val.csv")
    assert list(predictions.columns[:3]) == ["sample_id", "patient_id", "landmark"]
    assert len(predictions) == 8 * 3
    errors = np.hypot(predictions["pred_x"] - predictions["true_x"], predictions["pred_y"] - predictions["true_y"])
    assert val["metrics"]["median_radial_error"]["value"] == pytest.approx(float(np.median(errors)), abs=1e-5)
    config = json.loads((tiny_locator / "config.json").read_text())
    assert config["landmarks"] == NAMES and len(config["mean_shape"]) == 3
    history = pd.read_csv(tiny_locator / "history.csv")
    assert "val_median_radial_error" in history.columns


def test_locator_predictions_can_be_scored_again(tiny_locator: Path, zoo) -> None:
    result = zoo("evaluate", str(tiny_locator / "predictions-val.csv"), "--target", "landmarks", "--format", "json")
    assert result.code == 0, result.err
    again = json.loads(result.out)
    judged = json.loads((tiny_locator / "metrics.json").read_text())["splits"]["val"]["metrics"]
    assert again["metrics"]["median_radial_error"]["value"] == pytest.approx(judged["median_radial_error"]["value"])


def test_a_landmarks_file_missing_a_point_is_refused(tiny_locator: Path, tmp_path: Path) -> None:
    predictions = pd.read_csv(tiny_locator / "predictions-val.csv").iloc[1:]
    predictions.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(Exception, match="every image needs exactly one row per landmark"):
        read_predictions(tmp_path / "p.csv", "landmarks")


def test_a_landmarks_file_without_image_ids_is_one_error_line(tiny_locator: Path, tmp_path: Path, zoo) -> None:
    predictions = pd.read_csv(tiny_locator / "predictions-val.csv").drop(columns=["sample_id", "patient_id"])
    predictions.to_csv(tmp_path / "p.csv", index=False)
    result = zoo("evaluate", str(tmp_path / "p.csv"), "--target", "landmarks")
    assert result.code == 2 and "missing column(s) sample_id (or patient_id)" in result.err
    assert result.err.count("Error:") == 1 and "Traceback" not in result.err


def test_the_leaderboard_ranks_locators_by_median_error(tiny_locator: Path, zoo) -> None:
    result = zoo("leaderboard", "--runs-dir", str(tiny_locator.parent), "--split", "val")
    assert result.code == 0, result.err
    assert "landmarks target, val split" in result.out and "ranked by median px" in result.out
    assert "median px = median_radial_error" in result.out


def test_a_locator_report_shows_its_errors_per_point(tiny_locator: Path, tmp_path: Path, zoo) -> None:
    result = zoo("analyze", str(tiny_locator), "--out", str(tmp_path / "report"))
    assert result.code == 0, result.err
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Landmarks" in page and "8 images of 8 patients" in page
    for name in ("radial-errors", "located", "curves"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 1000


def test_a_locator_exports_to_onnx_with_its_read_out(tiny_locator: Path, tmp_path: Path, zoo) -> None:
    pytest.importorskip("onnxruntime", reason="ONNX export needs erosion-zoo[onnx]")
    result = zoo("export", str(tiny_locator), "--out", str(tmp_path / "locator.onnx"))
    assert result.code == 0, result.err
    assert "outputs outputs, confidence, pred" in result.out
