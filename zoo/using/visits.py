"""Scores per patient and visit, and their change between visits, from `zoo predict`'s joint rows.

- The Rau score of a visit (sum of stages * 38 / joints scored): the median of scores drawn from
  the joints' stage distributions, with the 80 % interval of the same draws (widened by the margin
  `eval.calibrate: intervals` fitted for the scorer, where it has one), so the score always
  lies inside its interval (the score of each joint's most probable stage need not: three joints
  each 40 % likely stage 5 and otherwise stage 0 would score 190, above every likely outcome).
- For a model that scores a Sharp/van der Heijde target: the visit's sums over its joints of the
  erosion grades (`erosion_sum`: SvdH erosion scores, or for a stage + JSN model the Ratingen
  stages), of the JSN grades (`jsn_sum`) and of both (`total`), each the expected value under the
  joints' class probabilities with an 80 % interval from draws (zoo.judging.progression).
- Per patient with two or more dated visits: the change of the summed grades (every graded target
  the model scores) from the first to the last visit, over the joints scored at both, with its
  80 % interval, and `progressor`
  where the change exceeds the smallest detectable change the scorer was judged with. A patient
  with one visit has no change; the caller is told how many.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.formatting import blank
from zoo.judging.progression import DRAWS, draw_sums, expected_sum, rau_interval
from zoo.targets import TARGETS

GRADED_COLUMNS = {  # a graded target's probability columns in joint rows, by target
    name: TARGETS[name].probability_columns for name in ("stage", "svdh_erosion", "svdh_jsn")
}
SVDH = ("svdh_erosion", "svdh_jsn")


def visit_joints(joints: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The scored joints that make up visits, and notes on those that do not: a joint without a
    patient id (or, when the inputs have dates, without a date) is in no visit; a joint listed
    more than once in a visit counts once (its first row)."""
    scored = joints[joints["status"] == "ok"]
    keys = _keys(joints)
    hands = ["side"] if "side" in joints.columns else []  # left and right hands: each hand's joints count
    missing = np.zeros(len(scored), dtype=bool)
    for key in keys:
        missing |= scored[key].map(blank).to_numpy(dtype=bool)
    notes = []
    if missing.any():
        notes.append(
            f"{int(missing.sum())} scored joint(s) have no {' or no '.join(k.replace('_', ' ') for k in keys)}: "
            "they are in no visit's Rau score"
        )
    scored = scored[~missing]
    repeated = scored.duplicated(subset=[*keys, *hands, "joint"], keep="first").to_numpy()
    if repeated.any():
        notes.append(
            f"{int(repeated.sum())} joint row(s) repeat a joint already listed for the same visit: "
            "each joint counts once in its visit's Rau score (its first row)"
        )
    return scored[~repeated], notes


def _keys(joints: pd.DataFrame) -> list[str]:
    return ["patient_id", "date"] if "date" in joints.columns else ["patient_id"]


def graded(joints: pd.DataFrame) -> dict[str, list[str]]:
    """The graded targets whose class probabilities the joint rows hold, with their columns."""
    return {name: list(cols) for name, cols in GRADED_COLUMNS.items() if all(c in joints.columns for c in cols)}


def by_visit(joints: pd.DataFrame, seed: int = 0, margin: float = 0.0) -> pd.DataFrame:
    """Per patient (and date): the Rau score with its 80 % interval (widened by the scorer's
    calibrated `margin`), and for an SvdH model the erosion, JSN and total sums with theirs
    (`visit_joints`: each joint of a visit counted once)."""
    families = graded(joints)
    if "patient_id" not in joints.columns or "joint" not in joints.columns or not families:
        return pd.DataFrame()
    scored, _ = visit_joints(joints)
    keys = _keys(joints)
    rng = np.random.default_rng(seed)
    sums = _svdh_sums(families)
    rows = []
    for key, group in scored.groupby(keys, sort=True):
        row: dict[str, object] = {**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))}
        row["joints_scored"] = len(group)
        if "stage" in families:
            score, low, high = rau_interval(group[families["stage"]].to_numpy(float), rng, margin)
            row.update(rau_score=_round(score), rau_low80=_round(low), rau_high80=_round(high))
        summed = {name for parts in sums.values() for name in parts}
        drawn = {name: draw_sums(group[families[name]].to_numpy(float), rng) for name in sorted(summed)}
        for column, parts in sums.items():
            draws = np.sum([drawn[name] for name in parts], axis=0)
            row[column] = _round(sum(expected_sum(group[families[name]].to_numpy(float)) for name in parts))
            row[f"{column}_low80"], row[f"{column}_high80"] = (_round(np.percentile(draws, q)) for q in (10, 90))
        rows.append(row)
    return pd.DataFrame(rows)


def _svdh_sums(families: dict[str, list[str]]) -> dict[str, list[str]]:
    """The SvdH sums a model's targets give: erosion (SvdH erosion, else Ratingen stages beside
    JSN), JSN, and their total; none for a model of no SvdH target."""
    if not any(name in families for name in SVDH):
        return {}
    sums: dict[str, list[str]] = {}
    erosion = [str(name) for name in ("svdh_erosion", "stage") if name in families][:1]
    if erosion:
        sums["erosion_sum"] = erosion
    if "svdh_jsn" in families:
        sums["jsn_sum"] = ["svdh_jsn"]
    if len(sums) == 2:
        sums["total"] = [*erosion, "svdh_jsn"]
    return sums


def patient_changes(
    joints: pd.DataFrame, sdc: float | None, seed: int = 0
) -> tuple[pd.DataFrame, list[str]]:
    """Per patient with two or more dated visits: the change of the summed grades from the first
    to the last visit (expected value, 80 % interval of draws) and, where the scorer's smallest
    detectable change `sdc` is known, whether the patient progressed; and notes."""
    families = graded(joints)
    if not families or not {"patient_id", "date", "joint"} <= set(joints.columns):
        return pd.DataFrame(), []
    scored, _ = visit_joints(joints)
    rng = np.random.default_rng(seed)
    rows, single = [], 0
    for patient, group in scored.groupby("patient_id", sort=True):
        dates = sorted(group["date"].astype(str).unique())
        if len(dates) < 2:
            single += 1
            continue
        visits = [group[group["date"].astype(str) == d] for d in (dates[0], dates[-1])]
        named = [_joint_names(visit) for visit in visits]  # a joint scored at one visit only is no change
        both = set(named[0]) & set(named[1])
        visits = [visit[names.isin(both).to_numpy()] for visit, names in zip(visits, named, strict=True)]
        change, draws = 0.0, np.zeros(DRAWS)
        for columns in families.values():
            first, last = (v[columns].to_numpy(float) for v in visits)
            change += expected_sum(last) - expected_sum(first)
            draws += draw_sums(last, rng) - draw_sums(first, rng)
        row: dict[str, object] = {
            "patient_id": patient,
            "first_visit": dates[0],
            "last_visit": dates[-1],
            "visits": len(dates),
            "change": _round(change),
            "change_low80": _round(np.percentile(draws, 10)),
            "change_high80": _round(np.percentile(draws, 90)),
        }
        if sdc is not None:
            row["progressor"] = bool(change > sdc)
        rows.append(row)
    notes = []
    if single:
        notes.append(f"{single} patient(s) have one visit: no change between visits for them")
    if rows and sdc is None:
        notes.append("the scorer has no smallest detectable change (it was not judged on repeated readings): "
                     "changes are given, progressors are not called")  # fmt: skip
    table = pd.DataFrame(rows)
    if rows:
        table.attrs["score"] = " + ".join(families)
    return table, notes


def _joint_names(joints: pd.DataFrame) -> pd.Series:
    """Each row's joint, with its hand where radiographs of both hands give one (`side`)."""
    names = joints["joint"].astype(str)
    return joints["side"].astype(str) + " " + names if "side" in joints.columns else names


def _round(value: float | np.floating) -> float:
    return round(float(value), 2)
