"""The scqm and manifest loaders: the formats users hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write
from PIL import Image

from zoo.compose.plugins import get_registry
from zoo.errors import UsageError


def crop(path: Path, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 20), value, np.uint8)).save(path)


def scqm_export(folder: Path) -> Path:
    """Two visits of one patient and one of another; joints a and b; one cell unscored."""
    write(folder / "main.csv", (
        "id_x,patient_id,date_x,date_y,sop_iuid,body_part,hand_left_a,hand_left_b,rau_score\n"
        "1,P1,2010-01-01,2010-01-05,u1,hand_left,0,15,3.8\n"
        "2,P1,2011-01-01,2011-01-03,u2,hand_left,,40,7.6\n"
        "3,P2,2010-06-01,2010-06-02,u3,hand_left,100,0,19\n"
    ))  # fmt: skip
    write(folder / "activity.csv", (
        "patient_id,date,physician_global_disease_activity,global_patient_estimate_disease_activity,das28bsr_score,das28crp_score\n"
        "P1,2010-01-01,20,30,3.1,2.9\n"
        "P2,2010-06-01,60,70,5.5,5.0\n"
    ))  # fmt: skip
    for sop in ("u1", "u2", "u3"):
        for joint in ("a", "b"):
            crop(folder / "crops" / f"{sop}-{joint}.png")
    return folder / "main.csv"


def build(name: str, **params: object) -> pd.DataFrame:
    return get_registry().get("datasets", name).build(params)


def test_scqm_reads_joints_skips_unscored_and_merges_activity(tmp_path: Path) -> None:
    main = scqm_export(tmp_path)
    table = build(
        "scqm",
        csv=str(main),
        images=str(tmp_path / "crops"),
        secondary_csv=str(tmp_path / "activity.csv"),
        joints=["a", "b"],
        image_pattern="{sop_iuid}-{joint}.png",
    )
    assert list(table["sample_id"]) == ["1:a", "1:b", "2:b", "3:a", "3:b"], "the unscored joint is skipped, not 0"
    assert table.attrs["notes"] == ["1 joint(s) without any score were skipped (not scored)"]
    assert list(table["percent"]) == ["0", "15", "40", "100", "0"]
    assert table["image"].map(lambda p: Path(p).is_file()).all()
    assert list(table["das28bsr_score"].fillna("-")) == ["3.1", "3.1", "-", "5.5", "5.5"], "merged on patient and date"
    assert list(table["patient_id"]) == ["P1", "P1", "P1", "P2", "P2"]


def test_scqm_missing_columns_and_files_are_clear_errors(tmp_path: Path) -> None:
    main = scqm_export(tmp_path)
    with pytest.raises(UsageError, match=r"lacks column\(s\): hand_left_mcp1, hand_left_mcp2"):
        build("scqm", csv=str(main))
    with pytest.raises(UsageError, match="does not exist"):
        build("scqm", csv=str(tmp_path / "nope.csv"), joints=["a"])
    write(tmp_path / "dup.csv", "patient_id,date,das28bsr_score\nP1,2010-01-01,3\nP1,2010-01-01,4\n")
    with pytest.raises(UsageError, match="2 rows sharing a patient_id and date"):
        build("scqm", csv=str(main), joints=["a"], secondary_csv=str(tmp_path / "dup.csv"))


def test_scqm_reads_joint_space_narrowing_beside_erosion(tmp_path: Path) -> None:
    main = scqm_export(tmp_path)
    table = pd.read_csv(main, dtype=str)
    table["jsn_a"], table["jsn_b"] = ["0", "2", "4"], ["1", None, "3"]  # one JSN grade not read
    table.to_csv(main, index=False)
    loaded = build("scqm", csv=str(main), images=str(tmp_path / "crops"), joints=["a", "b"],
                   image_pattern="{sop_iuid}-{joint}.png", jsn_prefix="jsn_")  # fmt: skip
    assert list(loaded["sample_id"]) == ["1:a", "1:b", "2:a", "2:b", "3:a", "3:b"], "a joint with either score"
    assert list(loaded["svdh_jsn"].fillna("-")) == ["0", "1", "2", "-", "4", "3"], "a grade not read stays missing"
    assert list(loaded["percent"].fillna("-")) == ["0", "15", "-", "40", "100", "0"]
    assert not loaded.attrs.get("notes"), "every joint has a score of one kind"
    assert not [c for c in loaded.columns if c.startswith("jsn_")]
    with pytest.raises(UsageError, match=r"lacks column\(s\): knee_a, knee_b"):
        build("scqm", csv=str(main), joints=["a", "b"], jsn_prefix="knee_")


def test_manifest_reads_a_jsn_column_beside_its_labels(tmp_path: Path) -> None:
    crop(tmp_path / "x.png")
    write(tmp_path / "m.csv", "path,label,patient_id,narrowing\nx.png,20,p1,2\n")
    table = build("manifest", csv=str(tmp_path / "m.csv"), jsn_column="narrowing")
    assert table[["percent", "svdh_jsn"]].values.tolist() == [["20", "2"]]
    with pytest.raises(UsageError, match=r"lacks column\(s\): jsn"):
        build("manifest", csv=str(tmp_path / "m.csv"), jsn_column="jsn")
    with pytest.raises(UsageError, match="label_scale svdh_jsn and a jsn_column name two columns"):
        build("manifest", csv=str(tmp_path / "m.csv"), jsn_column="narrowing", label_scale="svdh_jsn")
    write(tmp_path / "s.csv", "path,label,patient_id,stage\nx.png,20,p1,1\n")
    with pytest.raises(UsageError, match="column 'stage' has the name of a label scale but is not its label"):
        build("manifest", csv=str(tmp_path / "s.csv"))


def test_manifest_resolves_relative_paths_and_maps_columns(tmp_path: Path) -> None:
    crop(tmp_path / "data" / "img" / "x.png")
    write(
        tmp_path / "data" / "labels.csv",
        "image,erosive,patient,side\nimg/x.png,1,7,L\n/abs/y.png,0,8,R\n",
    )
    table = build(
        "manifest",
        csv=str(tmp_path / "data" / "labels.csv"),
        path_column="image",
        label_column="erosive",
        patient_column="patient",
        label_scale="binary",
    )
    assert list(table.columns) == ["sample_id", "image", "patient_id", "binary", "side"]
    assert table["image"].tolist() == [str(tmp_path / "data" / "img" / "x.png"), "/abs/y.png"]
    assert table["sample_id"].tolist() == ["img/x.png", "/abs/y.png"]
    with pytest.raises(UsageError, match=r"lacks column\(s\): path"):
        build("manifest", csv=str(tmp_path / "data" / "labels.csv"))
    unlabelled = build("manifest", csv=str(tmp_path / "data" / "labels.csv"), path_column="image")
    assert list(unlabelled.columns) == ["sample_id", "image", "erosive", "patient", "side"], "kept, for zoo predict"
