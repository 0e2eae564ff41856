"""Clinical scores from the thesis (section 2): Ratingen stage, Rau score, DAS28.

- Ratingen stage of a joint from its eroded percentage p: 0 if p == 0, else min(5, ceil(p / 20)).
- Rau score: (sum of the Ratingen stages of the scored joints) * 38 / (number of scored joints).
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


def ratingen_stages(percent: np.ndarray) -> np.ndarray:
    """Vectorised `ratingen_stage` for an array of percentages (validated)."""
    values = np.asarray(percent, dtype=float)
    if not np.all(np.isfinite(values)) or values.min(initial=0) < 0 or values.max(initial=0) > 100:
        raise ValueError("eroded percentages must be numbers from 0 to 100")
    return np.where(values == 0, 0, np.minimum(5, np.ceil(values / 20))).astype(np.int64)


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
