"""`zoo data crop` on real hand radiographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from conftest import needs_real_data, run_zoo, write
from PIL import Image


def test_crops_every_joint_of_the_real_hands(tmp_path: Path) -> None:
    hands = needs_real_data("rsna-hands")
    result = run_zoo(
        "data",
        "crop",
        "--images",
        str(hands),
        "--joints",
        str(hands / "joints.csv"),
        "--out",
        str(tmp_path),
        "--size",
        "96",
    )
    assert result.code == 0, result.err
    joints = pd.read_csv(hands / "joints.csv")
    crops = pd.read_csv(tmp_path / "crops.csv", dtype={"patient_id": str})
    wrists = pd.read_csv(tmp_path / "wrists.csv")
    assert len(joints) == 12 * 15 and len(crops) == 12 * 10 and len(wrists) == 12 * 5, "wrist points kept apart"
    assert wrists["joint"].str.startswith("W").all() and not crops["joint"].str.startswith("W").any()
    assert crops["patient_id"].notna().all() and crops["patient_id"].nunique() == 12, "one patient per radiograph"
    for row in crops.head(30).itertuples():
        with Image.open(tmp_path / row.path) as crop:
            assert crop.size == (96, 96) and crop.mode == "L"
    # The crop is centred on the joint: its centre matches the radiograph around (x, y).
    first = crops.iloc[1]
    with Image.open(hands / first["image"]) as hand:
        source = np.asarray(hand.convert("L"), dtype=float)
    x, y, box = int(first["x"]), int(first["y"]), int(first["box"])
    patch = source[y - 4 : y + 4, x - 4 : x + 4].mean()
    with Image.open(tmp_path / first["path"]) as crop:
        middle = np.asarray(crop.resize((box, box)), dtype=float)[
            box // 2 - 4 : box // 2 + 4, box // 2 - 4 : box // 2 + 4
        ].mean()
    assert abs(patch - middle) < 12
    assert 30 < crops["box"].median() < 150


def test_crop_reports_bad_input(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((200, 200), 90, np.uint8)).save(images / "a.png")
    joints = write(
        tmp_path / "joints.csv",
        "image,joint,x,y\na.png,MCP2,50,50\na.png,MCP3,90,52\nb.png,MCP2,50,50\na.png,PIP2,5000,5000\n",
    )
    result = run_zoo(
        "data",
        "crop",
        "--images",
        str(images),
        "--joints",
        str(joints),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.code == 2
    assert "b.png" in result.out and "missing file" in result.out
    assert "joint lies outside the image" in result.out
    assert "Error: 2 joint(s) could not be cropped" in result.err
    assert len(pd.read_csv(tmp_path / "out" / "crops.csv")) == 2, "the good joints are still cropped"
    bad = write(tmp_path / "bad.csv", "image,x,y\na.png,1,2\n")
    result = run_zoo("data", "crop", "--images", str(images), "--joints", str(bad), "--out", str(tmp_path / "o2"))
    assert result.code == 2 and "lacks column(s): joint" in result.err


def test_joint_names_never_leave_the_output_folder(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((200, 200), 90, np.uint8)).save(images / "a.png")
    joints = write(tmp_path / "joints.csv", "image,joint,x,y\na.png,../../escape,50,50\na.png,MCP3,90,52\n")
    out = tmp_path / "deep" / "out"
    result = run_zoo("data", "crop", "--images", str(images), "--joints", str(joints), "--out", str(out))
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["a_MCP3.png", "a_escape.png", "crops.csv", "wrists.csv"]
    assert not list(tmp_path.glob("*.png")) and not list((tmp_path / "deep").glob("*.png"))
