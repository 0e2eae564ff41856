"""`zoo data realism`: the image statistics it reports, its report, its bad input; the renderer's realism."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import needs_real_data, write
from PIL import Image
from zoo_plugins.phantom.render import JointCrop, RenderParams, render, texture_bank
from zoo_plugins.realism import statistics as image_statistics
from zoo_plugins.realism.commands import realism_notes, realism_rows
from zoo_plugins.realism.report import (
    FOLDS,
    MIN_REAL,
    TRANSFER_SEEDS,
    TWO_SAMPLE_REPEATS,
    HeldOut,
    RealCrops,
    by_joint,
    by_statistic,
    held_out_healthy,
    read_real,
    score_run,
    statistic_aucs,
)


def _bar(angle: float, size: int = 64) -> np.ndarray:
    """A bright bar through the centre, tilted `angle` degrees from vertical, on a dark background."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2.0
    rad = math.radians(angle)
    across = x * math.cos(rad) - y * math.sin(rad)
    return np.where(np.abs(across) < size / 8, 0.8, 0.1)


def _noise_with_slope(exponent: float, size: int = 64) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as frequency ** exponent."""
    rng = np.random.default_rng(0)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    spectrum = np.fft.fft2(rng.standard_normal((size, size))) * radius ** (exponent / 2)
    return np.real(np.fft.ifft2(spectrum))


@pytest.mark.parametrize("angle", [0.0, 20.0, -35.0])
def test_the_axis_angle_of_a_tilted_bar(angle: float) -> None:
    measured, anisotropy = image_statistics.axis_angle(_bar(angle))
    assert abs(abs(measured) - abs(angle)) < 3.0
    assert anisotropy > 0.5
    assert np.sign(measured) == np.sign(image_statistics.axis_angle(_bar(angle + 10.0))[0]) or angle == 0.0


def test_spectrum_slope_of_white_and_brown_noise() -> None:
    assert abs(image_statistics.spectrum_slope(_noise_with_slope(0.0))) < 0.4
    assert image_statistics.spectrum_slope(_noise_with_slope(-2.0)) == pytest.approx(-2.0, abs=0.4)


def test_bone_fraction_and_otsu_split_a_two_level_image() -> None:
    image = np.full((40, 40), 0.1)
    image[:, :12] = 0.7  # 30 % bright
    image += np.random.default_rng(1).normal(0, 0.02, image.shape)
    assert 0.1 < image_statistics.otsu_threshold(image) < 0.7
    assert image_statistics.bone_fraction(image) == pytest.approx(0.3, abs=0.01)
    assert image_statistics.bone_fraction(np.zeros((8, 8))) == 0.0
    assert image_statistics.features(image).shape == (len(image_statistics.FEATURE_NAMES),)


def _crop_folder(folder: Path, count: int, broken: int = 0) -> Path:
    """`count` crops with a crops.csv naming joints and radiographs, plus `broken` unreadable files."""
    folder.mkdir(parents=True)
    textures = texture_bank(np.random.default_rng(3), 2, 64)
    joints = ["IP", "MP", "PIP2", "MCP3"]
    rows = ["image,source_radiograph,joint"]
    for i in range(count):
        joint = joints[i % len(joints)]
        name = f"crop{i}.png"
        phantom_joint = {"IP": "pip1", "MP": "mcp1"}.get(joint, joint.lower())
        pixels = render(JointCrop(phantom_joint, 0.0, 0.2, 1.0), 48, np.random.default_rng([9, i]), textures)
        Image.fromarray(pixels).save(folder / name)
        rows.append(f"{name},radiograph{i // 4},{joint}")
    for i in range(broken):
        (folder / f"broken{i}.png").write_bytes(b"not an image")
        rows.append(f"broken{i}.png,radiograph9,PIP3")
    write(folder / "crops.csv", "\n".join(rows) + "\n")
    return folder


def test_realism_reports_every_measure_and_lists_unreadable_crops(zoo, tmp_path: Path, tiny_cdf_run) -> None:
    real = _crop_folder(tmp_path / "real", 16, broken=1)
    shutil.copyfile(real / "crop0.png", real / "again.png")  # the same crop under another radiograph's name
    with (real / "crops.csv").open("a") as listing:
        listing.write("again.png,radiograph8,IP\ncrop1.png,radiograph8,MP\n")  # and one crop listed twice
    result = zoo(
        "data", "realism", "--real", str(real), "--patients", "20", "--size", "32", "--workers", "1",
        "--run", str(tiny_cdf_run.folder), "--out", str(tmp_path / "out"), "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert "broken0.png" in result.err and "unreadable" in result.err
    assert [Path(item["path"]).name for item in report["unreadable"]] == ["broken0.png"]
    assert report["real"] == {"crops": 16, "radiographs": 4, "folders": [str(real)]}
    assert report["copies"] == [
        {"path": str(real / "again.png"), "same_as": str(real / "crop0.png")},
        {"path": str(real / "crop1.png"), "same_as": str(real / "crop1.png")},
    ]
    assert f"'{real / 'again.png'}' has the same pixels as '{real / 'crop0.png'}': measured once" in result.err
    assert f"'{real / 'crop1.png'}' is listed twice: measured once" in result.err
    assert any("(copies left out: 2)" in note for note in realism_notes(report))
    transfer = report["transfer"]["small_cnn"]
    assert 0.0 <= transfer["stage0_share"] <= 1.0 and sum(transfer["stages"].values()) == 16 * TRANSFER_SEEDS
    assert 0.0 <= transfer["mean_percent"] <= 100.0
    assert [one["seed"] for one in transfer["trainings"]] == list(range(TRANSFER_SEEDS)), "seeds from --seed 0"
    shares = [one["stage0_share"] for one in transfer["trainings"]]
    assert len(shares) == TRANSFER_SEEDS and transfer["stage0_share"] == pytest.approx(np.mean(shares), abs=1e-3)
    real_joints = transfer["joints"]
    assert set(real_joints) == {"pip1", "mcp1", "pip2", "mcp3"}, (
        "the crops.csv's joints, named as the phantom names them"
    )
    assert all(sum(one["stages"].values()) == 4 * TRANSFER_SEEDS for one in real_joints.values()), "4 crops each"
    assert transfer["stage0_share"] == pytest.approx(
        np.mean([one["stage0_share"] for one in real_joints.values()]), abs=1e-3
    )
    held_out = report["held_out"]
    assert held_out["patients"] == 10, "a fifth of --patients, at least 10"
    assert held_out["seed"] == 1000, "--seed + 1000: not the measured phantom"
    assert held_out["healthy_crops"] > 0
    healthy = transfer["phantom_healthy"]
    assert sum(healthy["stages"].values()) == held_out["healthy_crops"] * TRANSFER_SEEDS
    shares = [one["phantom_healthy"]["stage0_share"] for one in transfer["trainings"]]
    assert healthy["stage0_share"] == pytest.approx(np.mean(shares), abs=1e-3)
    healthy_joints = {joint: sum(one["stages"].values()) for joint, one in healthy["joints"].items()}
    assert sum(healthy_joints.values()) == held_out["healthy_crops"] * TRANSFER_SEEDS, "every training, by joint"
    run = report["transfer"][tiny_cdf_run.folder.name]
    assert sum(run["stages"].values()) == 16, "a --run scores every readable real crop once"
    assert sum(run["phantom_healthy"]["stages"].values()) == held_out["healthy_crops"]
    assert {joint: sum(one["stages"].values()) for joint, one in run["joints"].items()} == dict.fromkeys(real_joints, 4)
    run_healthy = {joint: sum(one["stages"].values()) for joint, one in run["phantom_healthy"]["joints"].items()}
    assert run_healthy == {joint: count // TRANSFER_SEEDS for joint, count in healthy_joints.items()}
    rows = {row[0]: row[1:] for row in realism_rows(report)}
    for name in ("small_cnn", tiny_cdf_run.folder.name):
        phantom_column, real_column, _ = rows[f"transfer {name}: healthy crops scored stage 0"]
        assert phantom_column.startswith(f"{100 * report['transfer'][name]['phantom_healthy']['stage0_share']:.1f} %")
        assert real_column.startswith(f"{100 * report['transfer'][name]['stage0_share']:.1f} %")
    assert " to " in rows["transfer small_cnn: mean predicted percent"][0], "the range over the trainings"
    held_out_by_joint, real_by_joint, _ = rows["transfer small_cnn: stage 0 by joint"]
    first = next(iter(healthy["joints"]))
    assert held_out_by_joint.startswith(f"{first} {100 * healthy['joints'][first]['stage0_share']:.0f} %")
    assert len(held_out_by_joint.split(", ")) == len(healthy["joints"])
    assert real_by_joint.startswith(f"mcp1 {100 * real_joints['mcp1']['stage0_share']:.0f} %")
    _, run_by_joint, _ = rows[f"transfer {tiny_cdf_run.folder.name}: stage 0 by joint"]
    assert [entry.split()[0] for entry in run_by_joint.split(", ")] == ["mcp1", "mcp3", "pip1", "pip2"]
    assert any(f"{held_out['healthy_crops']} healthy crops of a held-out phantom" in n for n in realism_notes(report))
    repeats = report["two_sample"]["repeats"]
    assert [one["seed"] for one in repeats] == [FOLDS * k for k in range(TWO_SAMPLE_REPEATS)]
    trainings = {one["seed"] + fold for one in repeats for fold in range(FOLDS)}
    assert len(trainings) == FOLDS * TWO_SAMPLE_REPEATS, "no two trainings share a seed"
    for key in ("cnn_auc", "statistics_auc"):
        assert 0.0 <= report["two_sample"][key] <= 1.0
        assert report["two_sample"][key] == pytest.approx(np.mean([one[key] for one in repeats]), abs=1e-3)
    each = [one["cnn_auc"] for one in repeats]
    assert rows["two-sample AUC, small CNN (0.5: indistinguishable)"][2].endswith(
        f"({min(each):.3f} to {max(each):.3f})"
    )
    assert report["two_sample"]["crops"] == {"phantom": 16, "real": 16}
    alone = report["two_sample"]["by_statistic"]
    assert set(alone) == set(image_statistics.FEATURE_NAMES)
    assert all(0.5 <= auc <= 1.0 for auc in alone.values()) and list(alone.values()) == sorted(alone.values())[::-1]
    measures = [row["measure"] for row in report["statistics"]]
    assert any("intensity" in m for m in measures) and any("spectrum" in m for m in measures)
    assert any("gradient" in m for m in measures) and any("bone area" in m for m in measures)
    assert any("axis angle" in m for m in measures)
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == report
    assert (tmp_path / "out" / "phantom-matched-real.png").stat().st_size > 1000


def test_realism_refuses_a_missing_folder_or_too_few_readable_crops(zoo, tmp_path: Path) -> None:
    missing = zoo("data", "realism", "--real", str(tmp_path / "nowhere"))
    assert missing.code == 2 and "is not a folder" in missing.err
    assert "Traceback" not in missing.err

    few = _crop_folder(tmp_path / "few", MIN_REAL - 1, broken=2)
    result = zoo("data", "realism", "--real", str(few), "--patients", "20", "--size", "32")
    assert result.code == 2
    assert f"only {MIN_REAL - 1} distinct readable real crop(s)" in result.err
    assert "broken0.png" in result.err and "broken1.png" in result.err  # listed, not dropped silently

    empty = tmp_path / "empty"
    empty.mkdir()
    assert zoo("data", "realism", "--real", str(empty)).code == 2

    not_a_run = zoo("data", "realism", "--real", str(few), "--run", str(tmp_path))
    assert not_a_run.code == 2 and "not a finished run folder" in not_a_run.err


def test_each_statistic_alone_is_scored_either_way_round() -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(50), np.ones(50)]
    stats = rng.normal(size=(100, len(image_statistics.FEATURE_NAMES)))
    stats[:, 0] = labels  # separates perfectly
    stats[:, 1] = -labels  # separates perfectly, the other way round
    alone = by_statistic([statistic_aucs(stats, labels)])
    assert alone[image_statistics.FEATURE_NAMES[0]] == alone[image_statistics.FEATURE_NAMES[1]] == 1.0
    assert list(alone)[:2] == list(image_statistics.FEATURE_NAMES[:2]), "highest first"
    assert all(auc < 0.75 for name, auc in alone.items() if name not in image_statistics.FEATURE_NAMES[:2])

    flipped = stats.copy()
    flipped[:, 0] = -labels  # the first statistic tells them apart the other way round in a second repeat
    pooled = by_statistic([statistic_aucs(stats, labels), statistic_aucs(flipped, labels)])
    assert pooled[image_statistics.FEATURE_NAMES[0]] == 0.5, "averaged before being turned round"
    assert pooled[image_statistics.FEATURE_NAMES[1]] == 1.0


def test_stage_summaries_by_joint_keep_each_crop_with_its_joint() -> None:
    joints = by_joint(np.array([0, 2, 0, 1]), np.array([0.0, 30.0, 5.0, 10.0]), ["pip2", None, "pip2", "mcp3"])
    assert list(joints) == ["mcp3", "pip2", "unnamed"]
    assert joints["pip2"]["stage0_share"] == 1.0 and joints["pip2"]["mean_percent"] == 2.5
    assert joints["unnamed"]["stages"]["2"] == 1 and joints["mcp3"]["stages"]["1"] == 1


def test_a_run_is_scored_by_joint_whatever_order_its_answers_come_in() -> None:
    class Answers:
        """A pipeline whose run answers in another order than it was asked."""

        def predict(self, run: Path, inputs: list[Path]) -> pd.DataFrame:
            return pd.DataFrame({
                "image": [str(path) for path in inputs][::-1],  # not in the order asked
                "status": ["ok", "ok", "unreadable", "ok"],
                "stage": [3, 0, 0, 1],
                "percent": [50.0, 0.0, 0.0, 10.0],
            })  # fmt: skip

    paths = [f"/crops/{name}.png" for name in "abcd"]
    real = RealCrops(
        pixels=np.zeros((4, 8, 8), np.uint8), paths=paths, groups=list("abcd"), joints=["pip2", "mcp3", "pip2", None]
    )
    held_out = HeldOut(paths=[Path(p) for p in paths], joints=["mcp1"] * 4, patient_ids=list("wxyz"), patients=1, seed=0)
    scores = score_run(Answers(), Path("run"), real, held_out)
    joints = scores["joints"]
    assert list(joints) == ["pip2", "unnamed"], "the unreadable crop (mcp3) is left out"
    assert joints["pip2"]["stages"]["0"] == joints["pip2"]["stages"]["1"] == 1 and joints["pip2"]["mean_percent"] == 5.0
    assert joints["unnamed"]["stages"]["3"] == 1
    assert scores["phantom_healthy"]["joints"]["mcp1"]["stage0_share"] == pytest.approx(1 / 3, abs=1e-3)


def test_a_crop_listed_twice_or_copied_is_measured_once(tmp_path: Path) -> None:
    real = _crop_folder(tmp_path / "real", 4)
    shutil.copyfile(real / "crop0.png", real / "copy.png")
    with (real / "crops.csv").open("a") as listing:
        listing.write("copy.png,radiograph5,IP\ncrop2.png,radiograph2,PIP2\n")
    crops = read_real([real], 32)
    assert [Path(p).name for p in crops.paths] == ["crop0.png", "crop1.png", "crop2.png", "crop3.png"]
    assert [(Path(a).name, Path(b).name) for a, b in crops.copies] == [
        ("copy.png", "crop0.png"),
        ("crop2.png", "crop2.png"),
    ]
    assert crops.groups == ["real/radiograph0"] * 4, "the copy's radiograph is not counted"
    twice = read_real([real, real], 32)
    assert len(twice.paths) == 4 and len(twice.copies) == 2 + 6, "a folder given twice: each crop measured once"


def test_the_held_out_phantom_gives_its_healthy_crops_only(tmp_path: Path) -> None:
    held_out = held_out_healthy(10, 32, 7, 1, tmp_path / "held-out")
    truth = pd.read_csv(tmp_path / "held-out" / "ground_truth.csv", dtype={"sop_iuid": str})
    healthy = truth[truth["true_percent"] == 0]
    assert 0 < len(healthy) < len(truth), "the phantom has eroded joints too, and they are left out"
    assert [p.name for p in held_out.paths] == [f"{r.sop_iuid}_{r.joint}.jpg" for r in healthy.itertuples()]
    assert held_out.patient_ids == healthy["patient_id"].astype(str).tolist()
    assert (held_out.patients, held_out.seed) == (10, 7)


def test_real_crops_keep_their_radiograph_and_joint() -> None:
    folder = needs_real_data("rsna-finger-crops")
    real = read_real([folder], 64)
    assert len(real.paths) == 30 and not real.unreadable and not real.copies
    assert len(set(real.groups)) == 3
    assert {"pip1", "mcp1", "pip2", "mcp5"} <= set(real.joints)


def test_erosions_darken_the_joint_of_the_same_crop_and_confounders_are_seeded() -> None:
    textures = texture_bank(np.random.default_rng(0), 4, 128)
    params = RenderParams(shift_sd=0.0, border_share=0.0, joint_space_sd=0.0)  # pose and joint space fixed
    for i in range(6):
        healthy, eroded = (
            render(JointCrop("mcp2", percent, 0.0, 1.0), 64, np.random.default_rng([1, i]), textures, params)
            for percent in (0.0, 60.0)
        )
        centre, edge = np.s_[24:40, 16:48], np.s_[:6, :]
        assert healthy[centre].mean() - eroded[centre].mean() > 3.0, "the same joint, eroded, is darker"
        assert abs(healthy[edge].astype(float) - eroded[edge]).mean() < 2.0, "far from the joint, nothing changes"

    crop = JointCrop("pip3", 0.0, 0.0, 1.0)
    plain = RenderParams(young_share=0.0, cyst_share=0.0, channel_share=0.0, osteophyte_share=0.0)
    confounded = RenderParams(young_share=1.0, cyst_share=1.0, channel_share=1.0, osteophyte_share=1.0)
    a = render(crop, 64, np.random.default_rng(5), textures, plain)
    b = render(crop, 64, np.random.default_rng(5), textures, confounded)
    again = render(crop, 64, np.random.default_rng(5), textures, confounded)
    assert not np.array_equal(a, b) and np.array_equal(b, again)


def test_a_texture_bank_whose_side_is_no_power_of_two_is_refused() -> None:
    textures = texture_bank(np.random.default_rng(0), 1, 96)
    with pytest.raises(ValueError, match="power-of-two"):
        render(JointCrop("pip2", 0.0, 0.0, 1.0), 32, np.random.default_rng(0), textures)
