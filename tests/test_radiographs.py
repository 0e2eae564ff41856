"""`zoo predict` on radiographs with the shipped bundles: ten joints located, cut, scored and drawn;
and every hostile radiograph the issue names, each handled or refused with one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

from tests.conftest import needs_real_data

FINGERS = {"mcp1", "mcp2", "mcp3", "mcp4", "mcp5", "pip1", "pip2", "pip3", "pip4", "pip5"}


def dha(name: str = "3144.jpg") -> Path:
    """A Digital Hand Atlas radiograph of the valid split (never trained on)."""
    return needs_real_data("dha-hands", "images", name)


def predict_json(zoo, folder: Path, *args: str) -> tuple[int, dict, str]:
    """`zoo predict ARGS --format json`, its overlays (if any) in `folder`: exit code, JSON, stderr."""
    overlays = [] if "--overlays" in args else ["--overlays", str(folder / "overlays")]
    result = zoo("predict", *args, *overlays, "--format", "json")
    return result.code, json.loads(result.out) if result.out.strip() else {}, result.err


def test_a_radiograph_gives_ten_stages_a_rau_score_and_an_overlay(tmp_path: Path, zoo) -> None:
    overlays = tmp_path / "overlays"
    result = zoo("predict", str(dha()), "--overlays", str(overlays))
    assert result.code == 0, result.err
    assert result.out.count(" ok ") >= 10
    assert "caveat: trained on synthetic" in result.out  # the scorer's caveat, in the table's footer
    assert "overlays: 1 picture(s)" in result.err  # stderr: a CSV or JSON on stdout stays whole
    picture = overlays / "3144-overlay.png"
    with Image.open(picture) as image:
        assert image.size == Image.open(dha()).size and image.mode == "RGB"
    code, out, err = predict_json(zoo, tmp_path, str(dha()), "--overlays", str(overlays))
    assert code == 0, err
    joints = pd.DataFrame(out["joints"])
    assert set(joints["joint"]) == FINGERS and (joints["status"] == "ok").all()
    assert joints["stage"].between(0, 5).all() and (joints["confidence"] >= 0.3).all()
    assert (joints["side"] == "L").all()
    visit = out["visits"][0]
    assert visit["joints_scored"] == 10 and visit["rau_low80"] <= visit["rau_score"] <= visit["rau_high80"]
    assert "synthetic" in out["caveat"]


def test_the_csv_carries_the_caveat_on_every_row(tmp_path: Path, zoo) -> None:
    out = tmp_path / "scores.csv"
    result = zoo("predict", str(dha()), "--out", str(out), "--overlays", str(tmp_path / "o"))
    assert result.code == 0, result.err
    table = pd.read_csv(out)
    assert table["caveat"].str.contains("synthetic").all()
    assert pd.read_csv(tmp_path / "scores-visits.csv")["joints_scored"].tolist() == [10]


def hostile_images(folder: Path) -> dict[str, Path]:
    """Images without a hand: noise, a blank film, a photograph."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {
        "noise": folder / "noise.png",
        "blank": folder / "blank.png",
        "photo": folder / "photo.jpg",
    }
    Image.fromarray(rng.integers(0, 256, (1280, 900), dtype=np.uint8)).save(paths["noise"])
    Image.new("L", (900, 1280), 0).save(paths["blank"])
    photo = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    with Image.open(photo) as image:  # a portrait photograph, 512 x 600
        image.save(paths["photo"])
    return paths


def test_no_hand_is_found_where_there_is_none_and_the_batch_goes_on(tmp_path: Path, zoo) -> None:
    paths = hostile_images(tmp_path)
    code, out, err = predict_json(zoo, tmp_path, *map(str, paths.values()), str(dha()), "--overlays", str(tmp_path / "o"))
    assert code == 2
    assert "3 of 13 inputs could not be scored; they are listed with their reason" in err
    joints = pd.DataFrame(out["joints"])
    for name in ("noise", "blank", "photo"):
        rows = joints[joints["image"] == str(paths[name])]
        assert len(rows) == 1 and rows["status"].iloc[0].startswith("no hand found"), name
        assert pd.isna(rows["stage"].iloc[0])  # nothing scored from a guess
    assert (joints[joints["image"] == str(dha())]["status"] == "ok").sum() == 10


def test_no_hand_without_the_real_data(tmp_path: Path, zoo) -> None:
    paths = hostile_images(tmp_path)
    result = zoo("predict", str(paths["noise"]), "--overlays", str(tmp_path / "o"))
    assert result.code == 2
    assert "no hand found" in result.out and "none was scored" in result.err


def test_right_hands_and_rotated_hands_are_found(tmp_path: Path, zoo) -> None:
    with Image.open(dha()) as image:
        ImageOps.mirror(image).save(tmp_path / "right.png")
        image.convert("L").rotate(30, expand=True).save(tmp_path / "rotated.png")
        image.convert("L").rotate(-30, expand=True).save(tmp_path / "rotated_back.png")
    code, out, err = predict_json(zoo, tmp_path, *(str(tmp_path / f) for f in ("right.png", "rotated.png", "rotated_back.png")))
    assert code == 0, err
    joints = pd.DataFrame(out["joints"])
    assert (joints["status"] == "ok").sum() == 30
    sides = joints.groupby("image")["side"].first()
    assert sides[str(tmp_path / "right.png")] == "R" and sides[str(tmp_path / "rotated.png")] == "L"


def test_two_hands_on_one_film_are_both_scored(tmp_path: Path, zoo) -> None:
    with Image.open(dha("3144.jpg")) as left, Image.open(dha("3146.jpg")) as other:
        right = ImageOps.mirror(other.convert("L"))  # the patient's right hand, on the viewer's left
        film = Image.new("L", (right.width + left.width + 60, 1280), 0)
        film.paste(right, (0, 0))
        film.paste(left.convert("L"), (right.width + 60, 0))
        film.save(tmp_path / "both.png")
    code, out, err = predict_json(zoo, tmp_path, str(tmp_path / "both.png"), "--overlays", str(tmp_path / "o"))
    assert code == 0, err
    joints = pd.DataFrame(out["joints"])
    assert (joints["status"] == "ok").sum() == 20
    assert joints.groupby("hand")["side"].first().to_dict() == {1: "R", 2: "L"}
    assert out["visits"][0]["joints_scored"] == 20  # both hands in the visit's score


def test_sizes_and_formats_are_handled_or_refused_in_one_line(tmp_path: Path, zoo) -> None:
    Image.new("L", (100, 70), 128).save(tmp_path / "tiny.png")
    with Image.open(dha()) as image:
        gray = image.convert("L")
        gray.resize((round(gray.width * 8000 / gray.height), 8000)).save(tmp_path / "large.png")
        deep = (np.asarray(gray, dtype=np.uint16) * 257).astype(np.uint16)
        Image.fromarray(deep).save(tmp_path / "deep.png")  # 16-bit
    code, out, err = predict_json(zoo, tmp_path, *(str(tmp_path / f) for f in ("tiny.png", "large.png", "deep.png")))
    assert code == 2
    joints = pd.DataFrame(out["joints"])
    tiny = joints[joints["image"] == str(tmp_path / "tiny.png")]["status"].tolist()
    assert tiny == [
        "error: neither a joint crop (square) nor a radiograph (100 x 70 px: a radiograph needs 256 px or more)"
    ]
    for name in ("large.png", "deep.png"):
        assert (joints[joints["image"] == str(tmp_path / name)]["status"] == "ok").sum() == 10, name
    assert "1 of 21 inputs could not be scored" in err


def test_dicom_radiographs_are_read_with_pydicom(tmp_path: Path, zoo) -> None:
    pydicom = pytest.importorskip("pydicom", reason="pydicom is an optional extra (erosion-zoo[dicom])")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    with Image.open(dha()) as image:
        pixels = (4095 - np.asarray(image.convert("L"), dtype=np.uint16) * 16).astype(np.uint16)  # MONOCHROME1
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    data = pydicom.Dataset()
    data.file_meta = meta
    data.Rows, data.Columns = pixels.shape
    data.SamplesPerPixel, data.PhotometricInterpretation = 1, "MONOCHROME1"
    data.BitsAllocated, data.BitsStored, data.HighBit, data.PixelRepresentation = 16, 12, 11, 0
    data.PixelData = pixels.tobytes()
    data.save_as(tmp_path / "hand.dcm", enforce_file_format=True)
    code, out, err = predict_json(zoo, tmp_path, str(tmp_path / "hand.dcm"), "--overlays", str(tmp_path / "o"))
    assert code == 0, err
    assert (pd.DataFrame(out["joints"])["status"] == "ok").sum() == 10


def test_dicom_without_pydicom_is_one_line(tmp_path: Path, zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scan.dcm").write_bytes(b"\0" * 128 + b"DICM")
    monkeypatch.setitem(sys.modules, "pydicom", None)  # as if it were not installed
    code, out, _ = predict_json(zoo, tmp_path, str(tmp_path / "scan.dcm"), "--overlays", str(tmp_path / "o"))
    assert code == 2
    assert (
        out["joints"][0]["status"]
        == "error: a DICOM file, and pydicom is not installed (pip install 'erosion-zoo[dicom]')"
    )


def test_wrist_crops_are_listed_apart_and_not_scored(tmp_path: Path, zoo) -> None:
    hands = needs_real_data("rsna-hands")
    crops = tmp_path / "crops"
    cut = zoo("data", "crop", "--images", str(hands), "--joints", str(hands / "joints.csv"), "--out", str(crops))
    assert cut.code == 0, cut.err
    code, out, err = predict_json(zoo, tmp_path, str(crops))
    assert code == 0, err
    joints = pd.DataFrame(out["joints"])
    wrists = joints[joints["joint"].str.upper().str.startswith("W")]
    assert len(wrists) == 60  # the scorer knows the joints it was trained on: a wrist is none of them
    assert wrists["status"].str.startswith("not scored: the model was trained on mcp1, mcp2").all()
    assert wrists["stage"].isna().all()
    fingers = joints[~joints.index.isin(wrists.index)]
    assert len(fingers) == 120 and (fingers["status"] == "ok").all()
    assert len(out["visits"]) == 12  # crops.csv names each crop's patient: a Rau score per radiograph


def test_crop_locates_the_joints_without_a_joints_file(tmp_path: Path, zoo) -> None:
    folder = tmp_path / "films"
    folder.mkdir()
    for name in ("3144.jpg", "3146.jpg"):
        (folder / name).write_bytes(dha(name).read_bytes())
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (900, 700), dtype=np.uint8)).save(folder / "noise.png")
    result = zoo("data", "crop", "--images", str(folder), "--locate", "--out", str(tmp_path / "crops"), "--size", "64")
    assert result.code == 2  # the noise image is listed as not cropped
    assert "no hand found" in result.out
    located = pd.read_csv(tmp_path / "crops" / "joints.csv")
    assert len(located) == 20 and set(located["joint"]) == FINGERS and located["found"].all()
    crops = pd.read_csv(tmp_path / "crops" / "crops.csv")
    assert len(crops) == 20 and (tmp_path / "crops" / crops["path"].iloc[0]).is_file()
    neither = zoo("data", "crop", "--images", str(folder), "--out", str(tmp_path / "x"))
    assert neither.code == 2 and "give either --joints CSV or --locate" in neither.err


def test_overlays_are_one_per_input_and_can_be_left_out(tmp_path: Path, zoo) -> None:
    for folder in ("a", "b"):  # two radiographs of one name
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "hand.jpg").write_bytes(dha().read_bytes())
    both = [str(tmp_path / "a" / "hand.jpg"), str(tmp_path / "b" / "hand.jpg")]
    code, out, err = predict_json(zoo, tmp_path, *both, "--overlays", str(tmp_path / "o"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["hand-2-overlay.png", "hand-overlay.png"]
    assert len(out["visits"]) == 1 and out["visits"][0]["joints_scored"] == 10  # one patient: repeats count once
    code, _, err = predict_json(zoo, tmp_path, both[0], "--overlays", str(tmp_path / "none"), "--no-overlays")
    assert code == 0, err
    assert not (tmp_path / "none").exists()
    (tmp_path / "file").write_text("x")
    code, _, err = predict_json(zoo, tmp_path, both[0], "--overlays", str(tmp_path / "file"))
    assert code == 2 and "--overlays" in err and "is a file, not a folder" in err and err.count("Error:") == 1


def test_located_crops_score_as_the_radiograph_does(tmp_path: Path, zoo) -> None:
    folder = tmp_path / "films"
    folder.mkdir()
    ImageOps.mirror(Image.open(dha())).save(folder / "right.png")  # a right hand: its crops are mirrored
    crops = tmp_path / "crops"
    cut = zoo("data", "crop", "--images", str(folder), "--locate", "--out", str(crops), "--size", "64")
    assert cut.code == 0, cut.err
    assert (pd.read_csv(crops / "crops.csv")["side"] == "R").all()
    code, from_crops, err = predict_json(zoo, tmp_path, str(crops))
    assert code == 0, err
    code, from_film, err = predict_json(zoo, tmp_path, str(folder / "right.png"))
    assert code == 0, err
    stages = {j["joint"]: j["stage"] for j in from_film["joints"]}
    assert {j["joint"]: j["stage"] for j in from_crops["joints"]} == stages


def test_a_visit_counts_a_left_and_a_right_hand_apart() -> None:
    from zoo.using.visits import visit_joints

    joints = pd.DataFrame({
        "patient_id": "p", "joint": sorted(FINGERS) * 2, "side": ["L"] * 10 + ["R"] * 10, "status": "ok",
    })  # fmt: skip
    counted, notes = visit_joints(joints)
    assert len(counted) == 20 and not notes
    counted, notes = visit_joints(pd.concat([joints, joints.iloc[:1]], ignore_index=True))
    assert len(counted) == 20 and "repeat a joint" in notes[0]


def test_the_locator_of_data_crop_goes_with_locate(tmp_path: Path, zoo) -> None:
    hands = needs_real_data("rsna-hands")
    result = zoo("data", "crop", "--images", str(hands), "--joints", str(hands / "joints.csv"),
                 "--locator", "joint-locator", "--out", str(tmp_path / "c"))  # fmt: skip
    assert result.code == 2 and "--locator is the model of --locate" in result.err


def test_a_square_radiograph_is_located_and_a_large_crop_is_scored_as_one(tmp_path: Path, zoo) -> None:
    film = Image.open(dha()).convert("L")
    side = max(film.size)
    square = Image.new("L", (side, side))
    square.paste(film, ((side - film.width) // 2, 0))
    square.resize((800, 800)).save(tmp_path / "square.png")  # a radiograph as square as a crop
    crop = film.crop((300, 300, 600, 600))  # a 300 px square of bone: no hand on it
    crop.save(tmp_path / "crop.png")
    code, out, err = predict_json(zoo, tmp_path, str(tmp_path / "square.png"), str(tmp_path / "crop.png"))
    assert code == 0, err
    joints = pd.DataFrame(out["joints"])
    film_rows = joints[joints["image"].str.endswith("square.png")]
    assert len(film_rows) == 10 and (film_rows["status"] == "ok").all()
    crop_rows = joints[joints["image"].str.endswith("crop.png")]
    assert len(crop_rows) == 1 and crop_rows["status"].iloc[0] == "ok"  # scored as a crop: not located
    assert "confidence" not in crop_rows.columns or crop_rows["confidence"].isna().all()
