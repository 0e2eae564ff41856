"""The phantom: its population, its files in the SCQM format, determinism, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import folder_digest
from scipy.stats import spearmanr
from zoo_plugins.phantom.generator import write_phantom
from zoo_plugins.phantom.params import PhantomParams
from zoo_plugins.phantom.population import sample_population

from zoo.clinical import das28_crp, das28_esr, ratingen_stages
from zoo.compose.plugins import get_registry

THESIS_STAGE_SHARE = [0.675, 0.272, 0.023, 0.010, 0.006, 0.0135]


@pytest.fixture(scope="module")
def population():
    return sample_population(seed=3, patients=1500, max_visits=4)


def test_true_stages_follow_the_thesis_distribution(population) -> None:
    true = np.array([j["true_percent"] for j in population.joints])
    share = np.bincount(ratingen_stages(true), minlength=6) / len(true)
    assert share == pytest.approx(THESIS_STAGE_SHARE, abs=0.004)
    assert np.mean(true == 100) > 0.005, "a bump of destroyed joints at 100 %"


def test_reader_scores_are_noisy_steps_of_five(population) -> None:
    joints = pd.DataFrame(population.joints)
    read = joints["reader_percent"].dropna()
    assert set(np.unique(read % 5)) == {0.0}
    assert 0.005 < joints["reader_percent"].isna().mean() < 0.02, "some joints unscored"
    scored = joints.dropna(subset=["reader_percent"])
    agree = np.mean(
        ratingen_stages(scored["reader_percent"].to_numpy()) == ratingen_stages(scored["true_percent"].to_numpy())
    )
    assert 0.9 < agree < 0.99


def test_erosion_never_decreases_and_patients_have_several_visits(population) -> None:
    visits = pd.DataFrame(population.visits)
    assert visits.groupby("patient_id").size().max() > 1
    joints = pd.DataFrame(population.joints).merge(visits[["sop_iuid", "date_x"]], on="sop_iuid")
    change = joints.sort_values("date_x").groupby(["patient_id", "joint"])["true_percent"].diff().dropna()
    assert len(change) > 1000 and (change >= 0).all()


def test_joint_space_narrowing_is_graded_correlated_and_never_heals(population) -> None:
    joints = pd.DataFrame(population.joints)
    visits = pd.DataFrame(population.visits)
    share = np.bincount(joints["true_jsn"], minlength=5) / len(joints)
    assert share == pytest.approx([0.62, 0.15, 0.11, 0.08, 0.04], abs=0.004)
    rho = spearmanr(joints["true_jsn"], joints["true_percent"]).statistic
    assert 0.4 < rho < 0.8, "correlated with erosion, not a function of it"
    assert (joints.groupby("true_percent")["true_jsn"].nunique() > 1).any()
    timed = joints.merge(visits[["sop_iuid", "date_x"]], on="sop_iuid").sort_values("date_x")
    change = timed.groupby(["patient_id", "joint"])["true_jsn"].diff().dropna()
    assert (change >= 0).all() and (change > 0).any()
    scored = joints.dropna(subset=["reader_jsn"])
    assert 0.85 < np.mean(scored["reader_jsn"] == scored["true_jsn"]) < 0.95, "the reader misreads some grades"
    assert scored["reader_jsn"].isin([0, 1, 2, 3, 4]).all()
    assert 0.7 < np.mean(scored["reader_jsn"] == scored["reader2_jsn"]) < 0.9, "two independent readings"


def test_some_patients_do_not_progress_and_the_others_at_different_rates(population) -> None:
    joints = pd.DataFrame(population.joints).merge(
        pd.DataFrame(population.visits)[["sop_iuid", "date_x"]], on="sop_iuid"
    )
    totals = joints.groupby(["patient_id", "date_x"])[["true_percent", "true_jsn"]].sum().reset_index()
    span = totals.sort_values("date_x").groupby("patient_id").agg(
        visits=("date_x", "size"), erosion=("true_percent", lambda s: s.iloc[-1] - s.iloc[0]),
        jsn=("true_jsn", lambda s: s.iloc[-1] - s.iloc[0]),
    )  # fmt: skip
    followed = span[span["visits"] > 1]
    still = (followed["erosion"] == 0) & (followed["jsn"] == 0)
    assert 0.3 < still.mean() < 0.6, "non-progressors (35 %), and progressors too slow to change yet"
    assert followed.loc[~still, "jsn"].std() > 1 and followed.loc[~still, "erosion"].std() > 10


def test_das28_follows_the_formulas_and_weakly_tracks_erosion(population) -> None:
    visits = [v for v in population.visits if v["measures"] is not None]
    assert 0.6 < len(visits) / len(population.visits) < 0.9, "the secondary data covers some visits"
    for visit in visits[:50]:
        m = visit["measures"]
        esr = das28_esr(
            m["tender_joints"],
            m["swollen_joints"],
            m["esr"],
            m["global_patient_estimate_disease_activity"],
        )
        crp = das28_crp(
            m["tender_joints"],
            m["swollen_joints"],
            m["crp"],
            m["global_patient_estimate_disease_activity"],
        )
        assert m["das28bsr_score"] == pytest.approx(esr, abs=0.06)
        assert m["das28crp_score"] == pytest.approx(crp, abs=0.06)
    joints = pd.DataFrame(population.joints)
    damage = joints.groupby("sop_iuid")["true_percent"].mean()
    das = pd.Series({v["sop_iuid"]: v["measures"]["das28bsr_score"] for v in visits})
    rho = spearmanr(damage[das.index], das).statistic
    assert 0.0 < rho < 0.35, f"weak correlation expected, got {rho:.2f}"


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    a = write_phantom(tmp_path / "a", patients=4, visits=2, size=48, seed=5)
    write_phantom(tmp_path / "b", patients=4, visits=2, size=48, seed=5, workers=2)
    write_phantom(tmp_path / "c", patients=4, visits=2, size=48, seed=6)
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b"), "the worker count changes nothing"
    assert folder_digest(tmp_path / "a") != folder_digest(tmp_path / "c")
    main = pd.read_csv(tmp_path / "a" / "scores.csv")
    assert list(main.columns[:6]) == [
        "id_x",
        "patient_id",
        "date_x",
        "date_y",
        "sop_iuid",
        "body_part",
    ]
    assert [c for c in main.columns if c.startswith("hand_left_")] == [f"hand_left_mcp{i}" for i in range(1, 6)] + [
        f"hand_left_pip{i}" for i in range(1, 6)
    ]
    assert [c for c in main.columns if c.startswith("jsn_hand_left_")] == [
        f"jsn_hand_left_{j}{i}" for j in ("mcp", "pip") for i in range(1, 6)
    ]
    assert main.columns[-1] == "rau_score"
    images = sorted((tmp_path / "a" / "images").iterdir())
    assert len(images) == len(main) * 10 == a["summary"]["crops"]
    assert all(p.suffix == ".jpg" for p in images)
    info = json.loads((tmp_path / "a" / "phantom.json").read_text())
    assert info["summary"]["perfect_model_vs_reader"]["mae"] > 0


def test_phantom_dataset_loads_through_scqm_and_is_cached(tmp_path: Path) -> None:
    spec = get_registry().get("datasets", "phantom")
    params = PhantomParams(patients=3, visits=2, size=32, cache_dir=str(tmp_path))
    table = spec.build(params)
    assert {
        "sample_id",
        "image",
        "patient_id",
        "joint",
        "date",
        "percent",
        "true_percent",
        "svdh_jsn",
        "true_svdh_jsn",
        "das28bsr_score",
    } <= set(table.columns)
    assert table["image"].map(lambda p: Path(p).is_file()).all()
    folders = list(tmp_path.iterdir())
    stamp = (folders[0] / "phantom.json").stat().st_mtime_ns
    again = spec.build(params)
    assert list(tmp_path.iterdir()) == folders and (folders[0] / "phantom.json").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(table, again)


def test_cli_writes_and_prints_the_best_achievable_error(zoo, tmp_path: Path) -> None:
    result = zoo("data", "phantom", "--out", str(tmp_path / "p"), "--patients", "3", "--size", "48")
    assert result.code == 0, result.err
    assert "best achievable against the reader's scores" in result.out and "MSE" in result.out
    assert (tmp_path / "p" / "scores.csv").is_file()
    again = zoo("data", "phantom", "--out", str(tmp_path / "p"), "--patients", "3")
    assert again.code == 2 and "is not an empty folder" in again.err
    bad = zoo("data", "phantom", "--out", str(tmp_path / "q"), "--patients", "0")
    assert bad.code == 2 and "--patients" in bad.err and "Traceback" not in bad.err
