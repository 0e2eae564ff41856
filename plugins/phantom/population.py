"""The phantom's patients: who has how much erosion at which visit, and how a reader scores it.

The model (all numbers documented in docs/data.md):
- Each patient has a latent severity `z ~ N(0, 1)`, a progression rate, a bone size, a disease
  activity level, and 1..`visits` consultations 6-24 months apart.
- Each of the 10 left-hand joints (MCP 1-5, PIP 1-5) has a latent damage
  `l = 0.75 z + 0.6 e_joint + joint susceptibility + rate * years`, which never decreases.
- The true eroded percentage is `Q(rank of l among all crops)`: a monotone map chosen so the
  population matches the thesis (Fig. 4; THESIS-FACTS) exactly: 67.5 % of joints at 0, most of
  the rest in 5-20 %, a thin tail, and a bump at 100 %. Erosion never decreases between visits.
- A reader scores in steps of 5 % with noise (sd 1.5 + 0.06 * true percent); 2 % of healthy
  joints get a false 5 %; 1 % of joints are left unscored. The true percentages are kept in a
  separate file, so the error of a perfect model against the reader is known.
- Disease activity per visit is mostly patient-specific and only weakly tied to severity; the
  DAS28 components are drawn from it and DAS28 is computed with the thesis's formulas.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from scipy.special import expit

from zoo.clinical import das28_crp, das28_esr

JOINTS = ("mcp1", "mcp2", "mcp3", "mcp4", "mcp5", "pip1", "pip2", "pip3", "pip4", "pip5")
# How readily each joint erodes in RA (MCP 2-3 and PIP 2-3 most, thumb joints least).
SUSCEPTIBILITY = {
    "mcp1": -0.35, "mcp2": 0.3, "mcp3": 0.25, "mcp4": 0.0, "mcp5": 0.15,
    "pip1": -0.45, "pip2": 0.1, "pip3": 0.15, "pip4": 0.0, "pip5": -0.1,
}  # fmt: skip
RATE_PER_YEAR = 0.12

# Quantile map of the non-zero part: (cumulative share of eroded joints, percent).
HEALTHY_SHARE = 0.675
NONZERO_KNOTS = (
    (0.0, 2.6), (0.48, 7.5), (0.7, 12.5), (0.837, 20.0), (0.908, 40.0),
    (0.939, 60.0), (0.958, 80.0), (0.97, 95.0), (0.975, 100.0), (1.0, 100.0),
)  # fmt: skip
READER_STEP = 5.0
READER_FALSE_POSITIVE = 0.02
UNSCORED = 0.01


class Joint(TypedDict):
    """One crop of the phantom: whose joint, its true and read erosion, what decides its look."""

    sop_iuid: str
    patient_id: str
    joint: str
    true_percent: float
    reader_percent: float  # NaN where the reader left it unscored
    activity: float
    bone_scale: float


@dataclass
class Population:
    """Visits (one row per radiograph) and joints (one row per crop) of the phantom."""

    visits: list[dict[str, object]]  # the main CSV's columns, and what is drawn per visit
    joints: list[Joint]


def true_percent(latent: np.ndarray) -> np.ndarray:
    """Map latent damage to the true eroded percentage by its rank (the thesis's distribution)."""
    quantile = (np.argsort(np.argsort(latent, kind="stable"), kind="stable") + 0.5) / latent.size
    share = np.clip((quantile - HEALTHY_SHARE) / (1.0 - HEALTHY_SHARE), 0.0, 1.0)
    xs, ys = zip(*NONZERO_KNOTS, strict=True)
    percent = np.interp(share, xs, ys)
    return np.where(quantile <= HEALTHY_SHARE, 0.0, percent)


def reader_score(rng: np.random.Generator, true: np.ndarray) -> np.ndarray:
    """A reader's score: steps of 5 %, noisy, some false positives and unscored joints (NaN)."""
    noisy = true + rng.normal(0.0, 1.5 + 0.06 * true)
    score = np.clip(np.round(noisy / READER_STEP) * READER_STEP, 0.0, 100.0)
    healthy = true == 0
    score[healthy] = np.where(rng.random(healthy.sum()) < READER_FALSE_POSITIVE, READER_STEP, 0.0)
    score[rng.random(true.shape) < UNSCORED] = np.nan
    return score


def _activity_measures(rng: np.random.Generator, activity: float) -> dict[str, float | int]:
    tender = int(min(28, rng.poisson(0.5 + 12.0 * activity)))
    swollen = int(min(28, rng.poisson(0.3 + 8.0 * activity)))
    esr = float(max(1.0, rng.lognormal(math.log(8.0 + 35.0 * activity), 0.4)))
    crp = float(rng.lognormal(math.log(2.0 + 25.0 * activity), 0.7))
    patient_global = float(np.clip(rng.normal(15.0 + 60.0 * activity, 15.0), 0.0, 100.0))
    physician_global = float(np.clip(rng.normal(10.0 + 60.0 * activity, 12.0), 0.0, 100.0))
    das_esr = das28_esr(tender, swollen, esr, patient_global)
    das_crp = das28_crp(tender, swollen, crp, patient_global)
    return {
        "tender_joints": tender,
        "swollen_joints": swollen,
        "esr": round(esr, 1),
        "crp": round(crp, 1),
        "physician_global_disease_activity": round(physician_global, 1),
        "global_patient_estimate_disease_activity": round(patient_global, 1),
        "das28bsr_score": round(das_esr, 2),
        "das28crp_score": round(das_crp, 2),
    }


def sample_population(seed: int, patients: int, max_visits: int) -> Population:
    """Draw patients, visits, true and read percentages, and disease activity."""
    rng = np.random.default_rng([seed, 1])
    susceptibility = np.array([SUSCEPTIBILITY[j] for j in JOINTS])
    visits: list[dict[str, object]] = []
    drawn: list[tuple[str, str, float, float]] = []  # each visit's sop_iuid, patient, activity, bone scale
    latents = []
    for index in range(patients):
        severity = rng.normal()
        rate = RATE_PER_YEAR * math.exp(0.5 * severity + rng.normal(0.0, 0.3))
        joint_effect = 0.6 * rng.normal(size=len(JOINTS)) + susceptibility
        bone_scale = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
        activity_level = rng.normal()
        first = dt.date(2008, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 9)))
        date = first
        for _ in range(int(rng.integers(1, max_visits + 1))):
            latents.append(0.75 * severity + joint_effect + rate * (date - first).days / 365.25)
            activity = float(expit(0.9 * activity_level + 0.25 * severity + rng.normal(0, 0.6) - 0.3))
            sop_iuid = f"2.25.{seed}.{len(visits) + 1}"
            patient_id = f"P{index + 1:05d}"
            drawn.append((sop_iuid, patient_id, activity, bone_scale))
            visits.append({
                "id_x": len(visits) + 1,
                "patient_id": patient_id,
                "date_x": date.isoformat(),
                "date_y": (date + dt.timedelta(days=int(rng.integers(0, 60)))).isoformat(),
                "sop_iuid": sop_iuid,
                "body_part": "hand_left",
                "activity": activity,
                "bone_scale": bone_scale,
                "measures": _activity_measures(rng, activity) if rng.random() < 0.75 else None,
            })  # fmt: skip
            date += dt.timedelta(days=int(rng.integers(182, 730)))
    true = true_percent(np.concatenate(latents)).reshape(len(visits), len(JOINTS))
    read = reader_score(rng, true)
    joints: list[Joint] = []
    for visit, (sop_iuid, patient_id, activity, bone_scale), visit_true, visit_read in zip(
        visits, drawn, true, read, strict=True
    ):
        for joint, t, r in zip(JOINTS, visit_true, visit_read, strict=True):
            visit[f"hand_left_{joint}"] = r
            joints.append({
                "sop_iuid": sop_iuid,
                "patient_id": patient_id,
                "joint": joint,
                "true_percent": round(float(t), 2),
                "reader_percent": r,
                "activity": round(activity, 3),
                "bone_scale": bone_scale,
            })  # fmt: skip
    return Population(visits=visits, joints=joints)
