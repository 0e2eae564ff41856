"""Clinical scores, with worked examples from the thesis's definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.clinical import (
    das28_category,
    das28_crp,
    das28_esr,
    icc_absolute_agreement,
    ratingen_stage,
    ratingen_stages,
    rau_score,
    smallest_detectable_change,
    svdh_erosion_scores,
)


@pytest.mark.parametrize(
    ("percent", "stage"),
    [
        (0, 0),
        (0.5, 1),
        (20, 1),
        (20.5, 2),
        (40, 2),
        (41, 3),
        (60, 3),
        (61, 4),
        (80, 4),
        (80.1, 5),
        (100, 5),
    ],
)
def test_ratingen_stage(percent: float, stage: int) -> None:
    assert ratingen_stage(percent) == stage
    assert ratingen_stages(np.array([percent]))[0] == stage


@pytest.mark.parametrize("bad", [-1, 100.5, math.nan, "10"])
def test_ratingen_stage_rejects_bad_input(bad: object) -> None:
    with pytest.raises(ValueError, match="0 to 100"):
        ratingen_stage(bad)  # type: ignore[arg-type]


def test_rau_score_worked_example() -> None:
    # 10 joints: stages 0,0,1,1,2,0,0,0,3,0 -> sum 7 -> 7 * 38 / 10 = 26.6
    assert rau_score([0, 0, 1, 1, 2, 0, 0, 0, 3, 0]) == pytest.approx(26.6)
    assert rau_score([5] * 32) == pytest.approx(190.0)
    with pytest.raises(ValueError, match="at least one"):
        rau_score([])
    with pytest.raises(ValueError, match="0 to 5"):
        rau_score([6])


def test_das28_worked_examples() -> None:
    # tender 4, swollen 9, ESR 25 mm/h, GH 50 mm
    expected_esr = 0.56 * 2 + 0.28 * 3 + 0.70 * math.log(25) + 0.014 * 50
    assert das28_esr(4, 9, 25, 50) == pytest.approx(expected_esr)
    assert das28_esr(4, 9, 25, 50) == pytest.approx(4.913, abs=1e-3)
    expected_crp = 0.56 * 2 + 0.28 * 3 + 0.36 * math.log(11) + 0.014 * 50 + 0.96
    assert das28_crp(4, 9, 10, 50) == pytest.approx(expected_crp)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: das28_esr(-1, 0, 10, 0), "tender joint count"),
        (lambda: das28_esr(0, 29, 10, 0), "swollen joint count"),
        (lambda: das28_esr(0, 0, 0, 0), "ESR must be above 0"),
        (lambda: das28_crp(0, 0, -1, 0), "CRP must be 0"),
        (lambda: das28_crp(0, 0, 1, 101), "global health"),
    ],
)
def test_das28_rejects_invalid_input(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("score", "category"),
    [
        (2.0, "remission"),
        (2.6, "low"),
        (3.19, "low"),
        (3.2, "moderate"),
        (5.2, "moderate"),
        (5.21, "high"),
    ],
)
def test_das28_category(score: float, category: str) -> None:
    assert das28_category(score) == category


def test_the_smallest_detectable_change_is_the_limits_of_agreement_over_root_two() -> None:
    first, second = np.array([0.0, 2.0, 5.0, 1.0]), np.array([1.0, 2.0, 3.0, 1.0])
    differences = first - second  # -1, 0, 2, 0: mean 0.25, sample SD sqrt(4.75 / 3)
    assert smallest_detectable_change(first, second) == pytest.approx(1.96 * math.sqrt(4.75 / 3) / math.sqrt(2))
    assert differences.std(ddof=1) == pytest.approx(math.sqrt(4.75 / 3))
    with pytest.raises(ValueError, match="at least two patients"):
        smallest_detectable_change(np.array([1.0]), np.array([1.0]))


def test_the_icc_is_one_for_agreement_and_drops_with_a_constant_offset() -> None:
    x = np.array([1.0, 4.0, 6.0, 10.0])
    assert icc_absolute_agreement(x, x) == pytest.approx(1.0)
    # A worked example: subjects (1, 2), (4, 5), (6, 7), (10, 11): rater 2 reads 1 higher.
    # Subject means 1.5, 4.5, 6.5, 10.5 (grand 5.75): MSR = 2 x 42.75 / 3 = 28.5; rater means
    # 5.25, 6.25: MSC = 4 x 0.5 = 2; no residual: MSE = 0. ICC = 28.5 / (28.5 + 0.5 x 2) = 0.9661.
    assert icc_absolute_agreement(x, x + 1) == pytest.approx(28.5 / 29.5)
    assert icc_absolute_agreement(x, -x) < 0
    with pytest.raises(ValueError, match="at least two subjects"):
        icc_absolute_agreement(np.array([1.0]), np.array([np.nan]))
    with pytest.raises(ValueError, match="two arrays of one length"):
        icc_absolute_agreement(x, x[:3])


def test_svdh_erosion_scores_follow_the_surface_involved() -> None:
    percent = np.array([0.0, 0.5, 10.0, 10.1, 25.0, 30.0, 50.0, 51.0, 99.0, 99.9999, 100.0])
    assert svdh_erosion_scores(percent).tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5]
    with pytest.raises(ValueError, match="0 to 100"):
        svdh_erosion_scores(np.array([101.0]))
