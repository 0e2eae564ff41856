"""Radiographic progression: a visit's total score, its change per patient, the smallest
detectable change (SDC) and who progresses.

A visit's total is the sum over its joints of every graded target a model scores (Ratingen stage,
SvdH erosion, SvdH joint-space narrowing: a stage + JSN model's total is the stage sum plus the
JSN sum). The model's total is the expected value of that sum under each joint's class
probabilities, with an 80 % interval from draws of each joint's grade (joints and targets drawn
independently). A patient's change is between the first and the last visit (by date), over the
joints read at both; a patient with one visit has none. The SDC comes from two readings of the
same images (the phantom's two readers): 1.96 x SD of the difference of their changes / sqrt 2
(zoo.clinical); a progressor's change exceeds it. Against the truth behind the labels, where the
data knows it (the phantom), the model's changes are judged by the intraclass correlation
ICC(A,1) and its progressors by Cohen's kappa, sensitivity and specificity; the first reader's
own values are the ceiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from zoo.clinical import RAU_FACTOR, icc_absolute_agreement, smallest_detectable_change

if TYPE_CHECKING:
    from zoo.protocols import JsonValue

GRADED = ("stage", "svdh_erosion", "svdh_jsn")  # targets whose per-joint grades add up to a visit's score
DRAWS = 2000
BOOTSTRAP = 200  # patient resamples of the agreement intervals


@dataclass(frozen=True)
class JointScores:
    """One graded target's values for the joints of a split, row by row (NaN: not known)."""

    probs: np.ndarray  # (n, classes): the model's class probabilities
    reader: np.ndarray  # the labels (the first reader's)
    second: np.ndarray | None  # a second reading of the same images
    truth: np.ndarray | None  # the truth behind the labels


def draw_sums(probs: np.ndarray, rng: np.random.Generator, draws: int = DRAWS) -> np.ndarray:
    """(draws,) sums over joints of grades drawn from each joint's class probabilities (n, k)."""
    probs = probs / probs.sum(axis=1, keepdims=True)
    cumulative = probs.cumsum(axis=1)
    grades: np.ndarray = (rng.random((draws, len(probs), 1)) > cumulative[None]).sum(axis=2)
    sums: np.ndarray = grades.sum(axis=1).astype(float)
    return sums


def rau_interval(stage_probs: np.ndarray, rng: np.random.Generator, margin: float = 0.0) -> tuple[float, float, float]:
    """A visit's Rau score and its 80 % interval from its joints' stage probabilities (n, 6): the
    median and the 10th and 90th percentiles of Rau scores drawn from them, the interval widened
    by `margin` Rau points on each side (narrowed where negative; `eval.calibrate: intervals`
    fits it), never past the score nor past the scale's ends."""
    drawn = draw_sums(stage_probs, rng) * RAU_FACTOR / len(stage_probs)
    score, low, high = (float(np.percentile(drawn, q)) for q in (50, 10, 90))
    top = (stage_probs.shape[1] - 1) * RAU_FACTOR
    low, high = min(low - margin, score), max(high + margin, score)
    return score, float(np.clip(low, 0.0, top)), float(np.clip(high, 0.0, top))


def expected_sum(probs: np.ndarray) -> float:
    """The expected sum over joints of their grades under their class probabilities (n, k)."""
    probs = probs / probs.sum(axis=1, keepdims=True)
    return float((probs * np.arange(probs.shape[1])).sum())


def patient_changes(
    samples: pd.DataFrame, scores: dict[str, JointScores], seed: int = 0
) -> tuple[pd.DataFrame, int]:
    """Per patient with two or more visits: the model's change of the total (with its 80 %
    interval) and the readers' and the truth's, first to last visit; and how many patients had
    one visit only. `samples` give patient_id and date, aligned with every target's `scores`;
    joints without every reading of every target are left out."""
    known = np.ones(len(samples), dtype=bool)
    for score in scores.values():  # a joint counts where every reading of every target is known
        for reading in (score.reader, score.second, score.truth):
            known &= True if reading is None else np.isfinite(reading)
    columns = ["patient_id", "date", *(["joint"] if "joint" in samples.columns else [])]
    table = samples.loc[known, columns].astype(str).reset_index(drop=True)
    kept = {t: _rows(s, known) for t, s in scores.items()}
    rng = np.random.default_rng(seed)
    rows, one_visit = [], 0
    for patient, joints in table.groupby("patient_id", sort=True):
        dates = sorted(joints["date"].unique())
        if len(dates) < 2:
            one_visit += 1
            continue
        first, last = _common_joints(joints, dates[0], dates[-1])
        draws = sum(draw_sums(s.probs[last], rng) - draw_sums(s.probs[first], rng) for s in kept.values())
        row: dict[str, object] = {
            "patient_id": patient,
            "first_visit": dates[0],
            "last_visit": dates[-1],
            "visits": len(dates),
            "model_low80": float(np.percentile(draws, 10)),
            "model_high80": float(np.percentile(draws, 90)),
        }
        model = [sum(expected_sum(s.probs[rows]) for s in kept.values()) for rows in (first, last)]
        row.update(model_first=model[0], model_last=model[1], model_change=model[1] - model[0])
        for who in ("reader", "second", "truth"):
            values: list[np.ndarray | None] = [getattr(s, who) for s in kept.values()]
            present = [v for v in values if v is not None]
            if len(present) == len(values):
                read = [sum(float(v[rows].sum()) for v in present) for rows in (first, last)]
                row.update({f"{who}_first": read[0], f"{who}_last": read[1], f"{who}_change": read[1] - read[0]})
        rows.append(row)
    return pd.DataFrame(rows), one_visit


def _common_joints(joints: pd.DataFrame, first: str, last: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows of two visits' joints, only those read at both visits (where joints are named):
    a joint read once would count as a change of its whole grade."""
    visits = [joints[joints["date"] == date] for date in (first, last)]
    if "joint" in joints.columns:
        both = set(visits[0]["joint"]) & set(visits[1]["joint"])
        visits = [visit[visit["joint"].isin(both)].sort_values("joint") for visit in visits]
    return visits[0].index.to_numpy(), visits[1].index.to_numpy()


def _rows(score: JointScores, rows: np.ndarray) -> JointScores:
    def pick(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[rows]

    return JointScores(score.probs[rows], score.reader[rows], pick(score.second), pick(score.truth))


def progression(changes: pd.DataFrame, one_visit: int, targets: list[str], seed: int = 0) -> dict[str, JsonValue]:
    """The SDC (from the two readings), each patient's progressor status, and the agreement of
    the model's changes and progressors with the truth's (or, without a truth, the reader's),
    with the first reader's own agreement beside it and patient-bootstrap 95 % intervals. Adds
    the progressor columns to `changes`."""
    summary: dict[str, JsonValue] = {
        "score": " + ".join(targets),
        "patients": len(changes),
        "one_visit_patients": one_visit,
    }
    if len(changes) < 2:
        summary["note"] = "fewer than two patients with two or more visits: no change to judge"
        return summary
    reference = "truth" if "truth_change" in changes.columns else "reader"
    summary["reference"] = reference
    truth = changes[f"{reference}_change"].to_numpy(float)
    judged = ["model"] + (["reader"] if reference == "truth" else [])
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, len(changes), len(changes)) for _ in range(BOOTSTRAP)]
    for who in judged:
        values = changes[f"{who}_change"].to_numpy(float)
        summary[f"{who}_icc"] = _with_interval(icc_absolute_agreement, values, truth, picks)
    if "second_change" not in changes.columns:
        summary["sdc_note"] = "no second reading of the same images: no smallest detectable change, no progressors"
        return summary
    sdc = smallest_detectable_change(changes["reader_change"].to_numpy(float), changes["second_change"].to_numpy(float))
    summary["sdc"] = round(sdc, 4)
    for who in {*judged, reference}:
        changes[f"{who}_progressor"] = changes[f"{who}_change"].to_numpy(float) > sdc
    progressed = changes[f"{reference}_progressor"].to_numpy(bool)
    summary["progressors"] = int(progressed.sum())
    for who in judged:
        called = changes[f"{who}_progressor"].to_numpy(bool)
        summary[f"{who}_kappa"] = _with_interval(_kappa, called, progressed, picks)
        summary[f"{who}_sensitivity"] = _share(called[progressed])
        summary[f"{who}_specificity"] = _share(~called[~progressed])
    return summary


def _with_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float], first: np.ndarray, second: np.ndarray, picks: list[np.ndarray]
) -> dict[str, JsonValue]:
    """A statistic of paired values with its patient-bootstrap 95 % interval."""
    value = float(statistic(first, second))
    again = np.array([statistic(first[p], second[p]) for p in picks], dtype=float)
    again = again[np.isfinite(again)]
    interval: list[JsonValue] | None = None
    if len(again):
        interval = [round(float(np.percentile(again, q)), 4) for q in (2.5, 97.5)]
    return {"value": round(value, 4) if np.isfinite(value) else None, "bootstrap_95": interval}


def _kappa(called: np.ndarray, actual: np.ndarray) -> float:
    """Cohen's kappa of two yes/no ratings (NaN when chance agreement is total)."""
    a, b = np.asarray(called, bool), np.asarray(actual, bool)
    observed = float(np.mean(a == b))
    chance = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
    return (observed - chance) / (1 - chance) if chance < 1 else float("nan")


def _share(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 4) if len(values) else None


def visit_raus(
    samples: pd.DataFrame, probs: np.ndarray, true_stages: np.ndarray, seed: int = 0, margin: float = 0.0
) -> np.ndarray:
    """Per visit (a patient's date, or a patient without dates) of the joints whose true stage is
    known: the model's Rau score interval over them (`rau_interval`) and their true Rau score, as
    rows (low, high, true)."""
    known = np.isfinite(true_stages)
    visit = ["patient_id", "date"] if "date" in samples.columns else ["patient_id"]
    keys = samples.loc[known, visit].astype(str).reset_index(drop=True)
    probs, truth = probs[known], true_stages[known]
    rng = np.random.default_rng(seed)
    rows = []
    for members in keys.groupby(visit, sort=True).indices.values():
        _, low, high = rau_interval(probs[members], rng, margin)
        rows.append((low, high, truth[members].sum() * RAU_FACTOR / len(members)))
    return np.array(rows, dtype=float).reshape(-1, 3)


def rau_coverage(
    samples: pd.DataFrame, probs: np.ndarray, true_stages: np.ndarray, seed: int = 0, margin: float = 0.0
) -> dict[str, JsonValue]:
    """How often a visit's true Rau score lies in the model's 80 % interval of it, as `zoo
    predict` gives it (`visit_raus`)."""
    visits = visit_raus(samples, probs, true_stages, seed, margin)
    inside = (visits[:, 0] <= visits[:, 2]) & (visits[:, 2] <= visits[:, 1])
    share = float(inside.mean()) if len(visits) else None
    return {"visits": len(visits), "inside_80": None if share is None else round(share, 4)}
