"""The phantom's patients: who has how much erosion and joint-space narrowing at which visit, and
how a reader scores them.

The model (all numbers documented in docs/data.md):
- Each patient has a latent severity `z ~ N(0, 1)`, a progression rate, a bone size, a disease
  activity level, and 1..`visits` consultations 6-24 months apart. A share of patients
  (`NON_PROGRESSORS`) does not progress at all; the others at rates that vary between patients.
- Each of the 10 left-hand joints (MCP 1-5, PIP 1-5) has a latent damage
  `l = 0.75 z + 0.6 e_joint + joint susceptibility + rate * years`, which never decreases.
- Joint-space narrowing (JSN, Sharp/van der Heijde grade 0-4) has a latent of its own, drawn on
  its own random stream: `0.65 z + 0.35 e_joint + 0.6 n_joint + JSN susceptibility + rate_jsn *
  years`, where `e_joint` is the erosion's joint effect (so the two are correlated, as in RA
  cohorts, but neither is a function of the other) and `rate_jsn` follows the erosion rate
  loosely. Grades come from the latent's rank (`JSN_SHARES`), so they never decrease either.
- The true eroded percentage is `Q(rank of l among all crops)`: a monotone map chosen so the
  population matches the thesis (Fig. 4; THESIS-FACTS) exactly: 67.5 % of joints at 0, most of
  the rest in 5-20 %, a thin tail, and a bump at 100 %. Erosion never decreases between visits.
- A reader scores in steps of 5 % with noise (sd 1.5 + 0.06 * true percent); 2 % of healthy
  joints get a false 5 %; 1 % of joints are left unscored. A JSN grade is misread by one for
  `JSN_MISREAD` of the joints (by two for `JSN_MISREAD_TWO`), in a random direction within 0-4.
  The true values are kept in a separate file, so the error of a perfect model against the
  reader is known, with a second, independent reading of every joint (`reader2_*`): the repeated
  readings trials compute the smallest detectable change from.
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
from scipy.stats import rankdata

from zoo.clinical import das28_crp, das28_esr

JOINTS = ("mcp1", "mcp2", "mcp3", "mcp4", "mcp5", "pip1", "pip2", "pip3", "pip4", "pip5")
# How readily each joint erodes in RA (MCP 2-3 and PIP 2-3 most, thumb joints least).
SUSCEPTIBILITY = {
    "mcp1": -0.35, "mcp2": 0.3, "mcp3": 0.25, "mcp4": 0.0, "mcp5": 0.15,
    "pip1": -0.45, "pip2": 0.1, "pip3": 0.15, "pip4": 0.0, "pip5": -0.1,
}  # fmt: skip
RATE_PER_YEAR = 0.3
NON_PROGRESSORS = 0.35  # the share of patients whose damage does not change between visits
# How readily each joint's space narrows (MCP 2-3 and the PIPs of fingers 2-4 most, the thumb least).
JSN_SUSCEPTIBILITY = {
    "mcp1": -0.3, "mcp2": 0.25, "mcp3": 0.2, "mcp4": 0.05, "mcp5": 0.0,
    "pip1": -0.35, "pip2": 0.15, "pip3": 0.2, "pip4": 0.1, "pip5": 0.0,
}  # fmt: skip
JSN_RATE_PER_YEAR = 0.35
# SvdH JSN grades' shares among all crops (0 normal, 1 focal or doubtful, 2 generalised < 50 %
# lost, 3 > 50 % lost or subluxation, 4 ankylosis or complete luxation).
JSN_SHARES = (0.62, 0.15, 0.11, 0.08, 0.04)
JSN_MISREAD = 0.15
JSN_MISREAD_TWO = 0.01

# Quantile map of the non-zero part: (cumulative share of eroded joints, percent).
HEALTHY_SHARE = 0.675
NONZERO_KNOTS = (
    (0.0, 2.6), (0.48, 7.5), (0.7, 12.5), (0.837, 20.0), (0.908, 40.0),
    (0.939, 60.0), (0.958, 80.0), (0.97, 95.0), (0.975, 100.0), (1.0, 100.0),
)  # fmt: skip
JSN_PREFIX = "jsn_hand_left_"  # the main CSV's JSN column of a joint: prefix + joint
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
    reader2_percent: float  # a second, independent reading (NaN where unscored)
    true_jsn: int
    reader_jsn: float  # NaN where unscored
    reader2_jsn: float
    activity: float
    bone_scale: float


@dataclass
class Population:
    """Visits (one row per radiograph) and joints (one row per crop) of the phantom."""

    visits: list[dict[str, object]]  # the main CSV's columns, and what is drawn per visit
    joints: list[Joint]


def _quantiles(latent: np.ndarray) -> np.ndarray:
    """Each latent's rank among all crops as a share in (0, 1); equal latents (a patient who does not
    progress) tie."""
    quantiles: np.ndarray = (rankdata(latent) - 0.5) / latent.size
    return quantiles


def true_percent(latent: np.ndarray) -> np.ndarray:
    """Map latent damage to the true eroded percentage by its rank (the thesis's distribution)."""
    quantile = _quantiles(latent)
    share = np.clip((quantile - HEALTHY_SHARE) / (1.0 - HEALTHY_SHARE), 0.0, 1.0)
    xs, ys = zip(*NONZERO_KNOTS, strict=True)
    percent = np.interp(share, xs, ys)
    return np.where(quantile <= HEALTHY_SHARE, 0.0, percent)


def jsn_grades(latent: np.ndarray) -> np.ndarray:
    """Map latent narrowing to SvdH JSN grades 0-4 by its rank (the shares of `JSN_SHARES`)."""
    quantile = _quantiles(latent)
    grades: np.ndarray = np.searchsorted(np.cumsum(JSN_SHARES)[:-1], quantile, side="right")
    return grades


def reader_jsn(rng: np.random.Generator, true: np.ndarray) -> np.ndarray:
    """A reader's JSN grades of true grades `true`: one grade off for `JSN_MISREAD` of the joints,
    two for `JSN_MISREAD_TWO`, within 0-4."""
    draw = rng.random(true.shape)
    step = np.where(draw < JSN_MISREAD_TWO, 2, np.where(draw < JSN_MISREAD_TWO + JSN_MISREAD, 1, 0))
    sign = np.where(rng.random(true.shape) < 0.5, -1, 1)
    read: np.ndarray = np.clip(true + sign * step, 0, 4).astype(float)
    return read


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
    """Draw patients, visits, true and read percentages and JSN grades (two readers), and disease activity."""
    rng = np.random.default_rng([seed, 1])
    narrowing = np.random.default_rng([seed, 4])  # JSN and who progresses: a stream of their own
    second = np.random.default_rng([seed, 5])  # the second reader
    susceptibility = np.array([SUSCEPTIBILITY[j] for j in JOINTS])
    jsn_susceptibility = np.array([JSN_SUSCEPTIBILITY[j] for j in JOINTS])
    visits: list[dict[str, object]] = []
    drawn: list[tuple[str, str, float, float]] = []  # each visit's sop_iuid, patient, activity, bone scale
    latents, jsn_latents = [], []
    for index in range(patients):
        severity = rng.normal()
        speed = rng.normal(0.0, 0.3)
        progresses = narrowing.random() >= NON_PROGRESSORS
        rate = RATE_PER_YEAR * math.exp(0.5 * severity + speed) if progresses else 0.0
        jsn_rate = JSN_RATE_PER_YEAR * math.exp(0.5 * severity + 0.7 * speed + narrowing.normal(0.0, 0.3))
        jsn_rate = jsn_rate if progresses else 0.0
        shared = rng.normal(size=len(JOINTS))
        joint_effect = 0.6 * shared + susceptibility
        jsn_effect = 0.35 * shared + 0.6 * narrowing.normal(size=len(JOINTS)) + jsn_susceptibility
        bone_scale = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
        activity_level = rng.normal()
        first = dt.date(2008, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 9)))
        date = first
        for _ in range(int(rng.integers(1, max_visits + 1))):
            years = (date - first).days / 365.25
            latents.append(0.75 * severity + joint_effect + rate * years)
            jsn_latents.append(0.65 * severity + jsn_effect + jsn_rate * years)
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
    jsn = jsn_grades(np.concatenate(jsn_latents)).reshape(len(visits), len(JOINTS))
    read_jsn = np.where(np.isnan(read), np.nan, reader_jsn(narrowing, jsn))
    read2 = reader_score(second, true)
    read2_jsn = np.where(np.isnan(read2), np.nan, reader_jsn(second, jsn))
    joints: list[Joint] = []
    for index, (visit, (sop_iuid, patient_id, activity, bone_scale)) in enumerate(zip(visits, drawn, strict=True)):
        for k, joint in enumerate(JOINTS):
            visit[f"hand_left_{joint}"] = read[index, k]
            visit[f"{JSN_PREFIX}{joint}"] = read_jsn[index, k]
            joints.append({
                "sop_iuid": sop_iuid,
                "patient_id": patient_id,
                "joint": joint,
                "true_percent": round(float(true[index, k]), 2),
                "reader_percent": read[index, k],
                "reader2_percent": read2[index, k],
                "true_jsn": int(jsn[index, k]),
                "reader_jsn": read_jsn[index, k],
                "reader2_jsn": read2_jsn[index, k],
                "activity": round(activity, 3),
                "bone_scale": bone_scale,
            })  # fmt: skip
    return Population(visits=visits, joints=joints)
