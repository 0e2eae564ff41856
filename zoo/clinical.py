"""Clinical scores from the thesis (section 2): Ratingen stage, Rau score, DAS28.

- Ratingen stage of a joint from its eroded percentage p: 0 if p == 0, else min(5, ceil(p / 20)).
- Rau score: (sum of the Ratingen stages of the scored joints) * 38 / (number of scored joints).
- Sharp/van der Heijde (SvdH) erosion score of a joint (0-5) from its eroded share of the joint's
  surface, following van der Heijde's definition (1 a discrete erosion, 2-3 by the surface
  involved, more than half the surface beyond that, 5 complete collapse): 0 if p == 0, 1 up to
  10 %, 2 up to 25 %, 3 up to 50 %, 4 below 100 %, 5 at 100 %.
- Progression (docs/clinical.md): the smallest detectable change (SDC) from two readings of the
  same images, and the intraclass correlation ICC(A,1) of two measurements.
- SvdH joint-space narrowing (JSN, 0-4) is read, not computed: 0 normal, 1 focal or doubtful,
  2 generalised with less than half the space lost, 3 more than half lost or subluxation,
  4 ankylosis or complete luxation.
- DAS28-ESR = 0.56 sqrt(tender) + 0.28 sqrt(swollen) + 0.70 ln(ESR) + 0.014 GH
- DAS28-CRP = 0.56 sqrt(tender) + 0.28 sqrt(swollen) + 0.36 ln(CRP + 1) + 0.014 GH + 0.96
  Categories: remission < 2.6, low < 3.2, moderate up to 5.2, high > 5.2.
Invalid inputs raise `ValueError` with a clear message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from zoo.targets import STAGES as STAGES

RAU_FACTOR = 38.0
DAS28_JOINTS = 28


def ratingen_stage(percent: float) -> int:
    """The Ratingen stage (0-5) of an eroded percentage (0-100)."""
    if not (isinstance(percent, int | float) and math.isfinite(percent)) or not 0 <= percent <= 100:
        raise ValueError(f"eroded percentage must be a number from 0 to 100, got {percent!r}")
    return 0 if percent == 0 else min(5, math.ceil(percent / 20))


def _percentages(percent: np.ndarray) -> np.ndarray:
    """An array of eroded percentages as floats, or a `ValueError` unless every one is in 0..100."""
    values = np.asarray(percent, dtype=float)
    if not np.all(np.isfinite(values)) or values.min(initial=0) < 0 or values.max(initial=0) > 100:
        raise ValueError("eroded percentages must be numbers from 0 to 100")
    return values


def ratingen_stages(percent: np.ndarray) -> np.ndarray:
    """Vectorised `ratingen_stage` for an array of percentages (validated)."""
    values = _percentages(percent)
    return np.where(values == 0, 0, np.minimum(5, np.ceil(values / 20))).astype(np.int64)


SVDH_EROSION_LIMITS = (0.0, 10.0, 25.0, 50.0)  # the highest percent of scores 0-3 (4: below 100 %, 5: 100 %)


def svdh_erosion_scores(percent: np.ndarray) -> np.ndarray:
    """SvdH erosion scores 0-5 of an array of eroded percentages (validated)."""
    values = _percentages(percent)
    below: np.ndarray = np.searchsorted(np.array(SVDH_EROSION_LIMITS), values, side="left")
    scores: np.ndarray = np.where(values >= 100.0, 5, below).astype(np.int64)
    return scores


def smallest_detectable_change(first: np.ndarray, second: np.ndarray) -> float:
    """The smallest detectable change (SDC) of a score's change between visits, from two readings
    of the same images: the half-width of the Bland-Altman limits of agreement of the two readings'
    changes, divided by sqrt 2, `1.96 x SD(first - second) / sqrt(2)` (as trials compute it)."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("the SDC needs two readings' changes of at least two patients, as finite numbers")
    return float(1.96 * np.std(a - b, ddof=1) / math.sqrt(2.0))


def icc_absolute_agreement(first: np.ndarray, second: np.ndarray) -> float:
    """The intraclass correlation of two measurements of the same subjects: two-way model,
    absolute agreement, single measures (McGraw and Wong's ICC(A,1); Shrout and Fleiss's ICC(2,1)).
    NaN when every measurement is the same (no variance to explain)."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("the ICC needs two measurements of each subject: two arrays of one length")
    ratings = np.column_stack([a, b])
    if ratings.shape[0] < 2 or not np.all(np.isfinite(ratings)):
        raise ValueError("the ICC needs two measurements of at least two subjects, as finite numbers")
    n, k = ratings.shape
    grand = ratings.mean()
    between_subjects = k * np.sum((ratings.mean(axis=1) - grand) ** 2) / (n - 1)
    between_raters = n * np.sum((ratings.mean(axis=0) - grand) ** 2) / (k - 1)
    residual = np.sum((ratings - ratings.mean(axis=1, keepdims=True) - ratings.mean(axis=0) + grand) ** 2)
    error = residual / ((n - 1) * (k - 1))
    denominator = between_subjects + (k - 1) * error + k / n * (between_raters - error)
    return float((between_subjects - error) / denominator) if denominator > 0 else math.nan


def rau_score(stages: Iterable[float]) -> float:
    """The Rau score of the scored joints' Ratingen stages: sum * 38 / count."""
    values = list(stages)
    if not values:
        raise ValueError("the Rau score needs at least one scored joint")
    for stage in values:
        if not (isinstance(stage, int | float) and 0 <= stage <= STAGES - 1):
            raise ValueError(f"Ratingen stages are 0 to 5, got {stage!r}")
    return sum(values) * RAU_FACTOR / len(values)


def _check_das28_inputs(tender: float, swollen: float, global_health: float) -> None:
    for name, count in (("tender", tender), ("swollen", swollen)):
        if not 0 <= count <= DAS28_JOINTS:
            raise ValueError(f"{name} joint count must be from 0 to {DAS28_JOINTS}, got {count!r}")
    if not 0 <= global_health <= 100:
        raise ValueError(f"patient global health must be from 0 to 100 mm, got {global_health!r}")


def das28_esr(tender: float, swollen: float, esr: float, global_health: float) -> float:
    """DAS28 with the erythrocyte sedimentation rate (mm/h)."""
    _check_das28_inputs(tender, swollen, global_health)
    if not esr > 0:
        raise ValueError(f"ESR must be above 0 mm/h, got {esr!r}")
    return 0.56 * math.sqrt(tender) + 0.28 * math.sqrt(swollen) + 0.70 * math.log(esr) + 0.014 * global_health


def das28_crp(tender: float, swollen: float, crp: float, global_health: float) -> float:
    """DAS28 with C-reactive protein (mg/L)."""
    _check_das28_inputs(tender, swollen, global_health)
    if not crp >= 0:
        raise ValueError(f"CRP must be 0 mg/L or more, got {crp!r}")
    return (
        0.56 * math.sqrt(tender) + 0.28 * math.sqrt(swollen) + 0.36 * math.log(crp + 1.0) + 0.014 * global_health + 0.96
    )


def das28_category(score: float) -> str:
    """remission (< 2.6), low (< 3.2), moderate (<= 5.2) or high (> 5.2) disease activity."""
    if not math.isfinite(score) or score < 0:
        raise ValueError(f"a DAS28 score is a non-negative number, got {score!r}")
    if score < 2.6:
        return "remission"
    if score < 3.2:
        return "low"
    if score <= 5.2:
        return "moderate"
    return "high"
