"""Predictions as the zoo writes and reads them: one row per crop, or per located point.

CSV columns: `sample_id` (optional), `patient_id` (optional; needed for patient-level
bootstrap), `y_true`, `y_pred`, and the model's distribution when it has one: `p_0..p_5` (stage
probabilities), `p_1` (binary: probability of erosion) or `cdf_0..cdf_100` (P(y <= k) of the
eroded percent). `zoo evaluate` scores any file in this format, made by the zoo or elsewhere.

A landmarks target's file has one row per image and point: `sample_id`, `patient_id`,
`landmark`, `true_x`, `true_y`, `pred_x`, `pred_y` (pixels of the image file) and, from the zoo's
locators, `confidence` and `found` (confidence at least `zoo.landmarks.FOUND_CONFIDENCE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from zoo.errors import UsageError
from zoo.formatting import blank
from zoo.landmarks import FOUND_CONFIDENCE, to_pixels
from zoo.paths import read_csv
from zoo.targets import TARGETS

if TYPE_CHECKING:
    import torch

CDF_STEPS = 101
TOLERANCE = 1e-4  # for sums of probabilities and the steps of a CDF, after rounding in CSV files
ID_TYPES = {"sample_id": str, "patient_id": str}  # ids are names: "0029" stays "0029", never 29


@dataclass
class Predictions:
    """Arrays of one set of predictions; metrics read what they need.

    A landmarks target's `y_true` and `y_pred` are (N, K, 2): the K points `names` of N images,
    in pixels of each image file; `confidence` (N, K) is the locator's."""

    target: str
    y_true: np.ndarray
    y_pred: np.ndarray
    patient: np.ndarray
    probs: np.ndarray | None = None  # (N, classes): stage or binary probabilities
    cdf: np.ndarray | None = None  # (N, 101)
    confidence: np.ndarray | None = None  # landmarks: (N, K) in [0, 1]
    names: tuple[str, ...] = ()  # landmarks: the points, in order

    def __len__(self) -> int:
        return len(self.y_true)

    def take(self, rows: np.ndarray) -> Predictions:
        """A subset (or resample) of the rows."""
        return Predictions(
            self.target,
            self.y_true[rows],
            self.y_pred[rows],
            self.patient[rows],
            None if self.probs is None else self.probs[rows],
            None if self.cdf is None else self.cdf[rows],
            None if self.confidence is None else self.confidence[rows],
            self.names,
        )

    def point(self, name: str) -> Predictions:
        """Landmarks: one point's predictions alone (the per-landmark breakdown)."""
        k = self.names.index(name)
        confidence = None if self.confidence is None else self.confidence[:, k : k + 1]
        return Predictions(
            self.target, self.y_true[:, k : k + 1], self.y_pred[:, k : k + 1], self.patient, None, None, confidence,
            (name,),
        )  # fmt: skip

    def tags(self) -> set[str]:
        """What these predictions carry, matched against metrics' `requires`."""
        found = set()
        if self.probs is not None:
            found.add("probs")
        if self.cdf is not None:
            found.add("cdf")
        if TARGETS[self.target].points:
            found.add("points")
        if self.confidence is not None:
            found.add("confidence")
        return found


def decide(p_positive: np.ndarray, threshold: float) -> np.ndarray:
    """0/1 decisions of a two-class model: 1 where P(class 1) reaches the operating threshold."""
    return (np.asarray(p_positive) >= threshold).astype(float)


def to_predictions(
    target: str,
    targets: torch.Tensor | np.ndarray,
    predicted: dict[str, torch.Tensor],
    patients: np.ndarray,
    threshold: float | None = None,
    points: tuple[np.ndarray, list[str]] | None = None,
) -> Predictions:
    """A head's predictions as float64 arrays (so the CSV round-trips exactly for `zoo evaluate`).

    With a threshold, a two-class target's decision is P(class 1) >= threshold. A landmarks
    target needs `points`: the images' sizes (N, 2: width, height) and the points' names; its
    targets and predictions, in unit coordinates, become pixels of each image.
    """
    if TARGETS[target].points:
        if points is None:
            raise ValueError("landmarks predictions need the images' sizes and the points' names")
        sizes, names = points
        confidence = predicted.get("confidence")
        return Predictions(
            target,
            to_pixels(np.asarray(targets, dtype=float), sizes),
            to_pixels(predicted["pred"].cpu().numpy().astype(float), sizes),
            patients,
            confidence=None if confidence is None else confidence.cpu().numpy().astype(float),
            names=tuple(names),
        )
    probs = predicted.get("probs")
    cdf = predicted.get("cdf")
    pred = predicted["pred"].cpu().numpy().astype(float)
    if threshold is not None and probs is not None:
        pred = decide(probs[:, 1].cpu().numpy().astype(float), threshold)
    return Predictions(
        target,
        np.asarray(targets, dtype=float),
        pred,
        patients,
        None if probs is None else probs.cpu().numpy().astype(float),
        None if cdf is None else cdf.cpu().numpy().astype(float),
    )


def to_frame(predictions: Predictions, extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """The CSV table of predictions (`extra` columns, e.g. sample ids, come first)."""
    if TARGETS[predictions.target].points:
        return _points_frame(predictions, extra)
    frame = pd.DataFrame(
        {
            "patient_id": predictions.patient,
            "y_true": predictions.y_true,
            "y_pred": predictions.y_pred,
        }
    )
    if extra is not None:
        frame = pd.concat([extra.reset_index(drop=True), frame], axis=1)
    if predictions.probs is not None:
        if TARGETS[predictions.target].decision:
            frame["p_1"] = predictions.probs[:, 1]
        else:
            for k in range(predictions.probs.shape[1]):
                frame[f"p_{k}"] = predictions.probs[:, k]
    if predictions.cdf is not None:
        cdf = pd.DataFrame(predictions.cdf, columns=[f"cdf_{k}" for k in range(CDF_STEPS)])
        frame = pd.concat([frame, cdf], axis=1)
    return frame


def _points_frame(predictions: Predictions, extra: pd.DataFrame | None) -> pd.DataFrame:
    """One row per image and point (the image's `extra` columns repeated on each of its points)."""
    count, points = predictions.y_true.shape[:2]
    rows = np.repeat(np.arange(count), points)
    frame = pd.DataFrame({"patient_id": predictions.patient[rows], "landmark": list(predictions.names) * count})
    if extra is not None:
        frame = pd.concat([extra.reset_index(drop=True).iloc[rows].reset_index(drop=True), frame], axis=1)
    for column, values in (("true", predictions.y_true), ("pred", predictions.y_pred)):
        frame[f"{column}_x"], frame[f"{column}_y"] = values.reshape(-1, 2).T
    if predictions.confidence is not None:
        frame["confidence"] = predictions.confidence.reshape(-1)
        frame["found"] = frame["confidence"] >= FOUND_CONFIDENCE
    return frame


def _read_points(frame: pd.DataFrame, source: str, target: str) -> Predictions:
    """A landmarks predictions file (`_points_frame`'s columns) back into arrays."""
    needed = ["landmark", "true_x", "true_y", "pred_x", "pred_y"]
    missing = [c for c in needed if c not in frame.columns]
    if not {"sample_id", "patient_id"} & set(frame.columns):
        missing.append("sample_id (or patient_id)")
    if missing:
        raise UsageError(
            f"{source}: missing column(s) {', '.join(missing)}",
            hint="landmarks predictions need sample_id, landmark, true_x, true_y, pred_x, pred_y "
            "(one row per image and point)",
        )
    values = _numbers(frame, needed[1:], source)
    image = frame["sample_id"].astype(str) if "sample_id" in frame.columns else frame["patient_id"].astype(str)
    names = list(dict.fromkeys(frame["landmark"].astype(str)))
    images = list(dict.fromkeys(image))
    position = {(i, n): row for row, (i, n) in enumerate(zip(image, frame["landmark"].astype(str), strict=True))}
    if len(position) != len(frame) or len(frame) != len(images) * len(names):
        raise UsageError(
            f"{source}: every image needs exactly one row per landmark ({len(images)} images, {len(names)} landmarks, "
            f"{len(frame)} rows)",
            hint="give each image's every point once",
        )
    order = np.array([[position[(i, n)] for n in names] for i in images])
    patient_column = frame["patient_id"] if "patient_id" in frame.columns else image
    confidence = None
    if "confidence" in frame.columns:
        confidence = _numbers(frame, ["confidence"], source)[:, 0][order]
        if ((confidence < 0) | (confidence > 1)).any():
            raise UsageError(f"{source}: confidence must be in 0..1", hint="check the confidence column")
    return Predictions(
        target,
        values[:, 0:2][order],
        values[:, 2:4][order],
        patient_column.astype(str).str.strip().to_numpy()[order[:, 0]],
        confidence=confidence,
        names=tuple(names),
    )


def _numbers(frame: pd.DataFrame, columns: list[str], source: str) -> np.ndarray:
    values: np.ndarray = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UsageError(
            f"{source}: {int(bad.sum())} missing or non-numeric value(s) in {', '.join(columns[:3])}"
            f"{'...' if len(columns) > 3 else ''} (first: column {columns[col]}, row {row + 2})",
            hint="every row needs numbers in these columns",
        )
    return values


def read_predictions(path: Path, target: str) -> Predictions:
    """Read and check a predictions CSV; malformed files are a one-line `UsageError`."""
    source = str(path)
    frame = read_csv(path, "predictions file", hint="give a CSV of y_true, y_pred", dtype=ID_TYPES)
    if TARGETS[target].points:
        if frame.empty:
            raise UsageError(f"{source}: no rows", hint="the file has a header but no predictions")
        return _read_points(frame, source, target)
    missing = [c for c in ("y_true", "y_pred") if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{source}: missing column(s) {', '.join(missing)}",
            hint=f"needs y_true and y_pred; it has {', '.join(map(str, frame.columns))}",
        )
    if frame.empty:
        raise UsageError(f"{source}: no rows", hint="the file has a header but no predictions")
    y = _numbers(frame, ["y_true", "y_pred"], source)
    scale = TARGETS[target]
    low, high = scale.low, scale.high
    outside = (y < low) | (y > high)
    if outside.any():
        raise UsageError(
            f"{source}: {int(outside.sum())} value(s) of y_true/y_pred outside {low:g}..{high:g} for target '{target}'",
            hint="is --target right?",
        )
    if scale.whole and (y != np.round(y)).any():
        raise UsageError(
            f"{source}: y_true/y_pred must be whole classes for target '{target}'",
            hint="is --target right?",
        )
    if "patient_id" in frame.columns:
        unnamed = frame["patient_id"].map(blank).to_numpy(dtype=bool)
        if unnamed.any():
            raise UsageError(
                f"{source}: {int(unnamed.sum())} row(s) without a patient_id "
                f"(first: row {int(np.argmax(unnamed)) + 2})",
                hint="every row needs its patient's id, or leave the column out (each row is then its own patient)",
            )
        patient = frame["patient_id"].str.strip().to_numpy()
    else:
        patient = np.arange(len(frame)).astype(str)
    probs = cdf = None
    cdf_columns = [c for c in frame.columns if str(c).startswith("cdf_")]
    if cdf_columns:
        expected = [f"cdf_{k}" for k in range(CDF_STEPS)]
        if scale.whole or cdf_columns != expected:
            raise UsageError(
                f"{source}: a CDF needs exactly the columns cdf_0..cdf_100 and target 'percent' "
                f"(found {len(cdf_columns)} cdf columns)",
                hint="write P(y <= k) for k = 0..100",
            )
        cdf = _numbers(frame, expected, source)
        if ((cdf < 0) | (cdf > 1)).any():
            raise UsageError(f"{source}: CDF values must be probabilities in 0..1", hint="write P(y <= k)")
        falling = (np.diff(cdf, axis=1) < -TOLERANCE).any(axis=1)
        if falling.any():
            raise UsageError(
                f"{source}: {int(falling.sum())} CDF row(s) fall somewhere from k to k+1 "
                f"(first: row {int(np.argmax(falling)) + 2}); a CDF never decreases",
                hint="repair it (a running maximum over k) before scoring",
            )
    class_columns = [f"p_{k}" for k in range(scale.classes or 0)]
    if scale.whole and not scale.decision and any(c in frame.columns for c in class_columns):
        absent = [c for c in class_columns if c not in frame.columns]
        if absent:
            raise UsageError(
                f"{source}: stage probabilities need p_0..p_5; missing {', '.join(absent)}",
                hint="write all six, or none",
            )
        probs = _numbers(frame, class_columns, source)
    if scale.decision and "p_1" in frame.columns:
        p1 = _numbers(frame, ["p_1"], source)[:, 0]
        probs = np.stack([1 - p1, p1], axis=1)
    if probs is not None and ((probs < 0) | (probs > 1)).any():
        raise UsageError(f"{source}: probabilities must be in 0..1", hint="check the p_ columns")
    if probs is not None and not scale.decision:
        off = np.abs(probs.sum(axis=1) - 1.0) > TOLERANCE
        if off.any():
            raise UsageError(
                f"{source}: {int(off.sum())} row(s) whose stage probabilities p_0..p_5 do not sum to 1 "
                f"(first: row {int(np.argmax(off)) + 2})",
                hint=f"each row's p_0..p_5 must sum to 1 (within {TOLERANCE:g})",
            )
    return Predictions(target, y[:, 0], y[:, 1], patient, probs, cdf)
