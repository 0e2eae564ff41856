"""Score new crops with a trained run: per joint, and per patient and visit (Rau score).

Inputs are image files, folders of images, or a dataset CSV that a dataset plugin reads (its
`csv` param: e.g. an SCQM main CSV, or a manifest of `path` [+ `patient_id`, `joint`, `date`]).
Every image goes through the preprocessing the model was trained with (`config.json`).

Per joint: the Ratingen stage with its probabilities, plus for a CDF model the expected percent
and an 80 % interval; `unsure` flags a wide interval (more than `UNSURE_WIDTH` points) or a most
probable stage below `UNSURE_PROBABILITY`. Per patient and visit (when patient ids and joints are
known): the Rau score (sum of stages * 38 / joints scored) as the median of scores drawn from the
joints' stage distributions, with the 80 % interval of the same draws, so the score always lies
inside its interval (the score of each joint's most probable stage need not: three joints each
40 % likely stage 5 and otherwise stage 0 would score 190, above every likely outcome). Inputs
that cannot be read are rows with an error; the others are still scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from zoo.clinical import RAU_FACTOR
from zoo.compose.registry import Registry
from zoo.data.loader import to_model_input
from zoo.errors import UsageError, ZooError
from zoo.formatting import blank
from zoo.images import IMAGE_SUFFIXES, UnreadableImage, images_in, load_prepared
from zoo.paths import is_path_field
from zoo.predictions import decide
from zoo.progress import task, track
from zoo.targets import TARGETS

if TYPE_CHECKING:
    from zoo.protocols import ComponentChoice
    from zoo.runs import SavedModelConfig
    from zoo.training.model import ZooModel

UNSURE_WIDTH = 20.0
INTERVAL_COLUMNS = {"median": "_median", "lower": "_low80", "upper": "_high80"}  # head outputs, by suffix
UNSURE_PROBABILITY = 0.5
RAU_DRAWS = 2000
BATCH = 64


@dataclass
class Scored:
    """Per-joint rows, per-visit rows, and what the user should know about them."""

    joints: pd.DataFrame
    visits: pd.DataFrame
    notes: list[str]  # joints left out of the visits, or counted once of several


def _from_csv(path: Path, registry: Registry, trained_on: ComponentChoice | None = None) -> pd.DataFrame:
    """Read a CSV as training read its data: with the run's dataset plugin and params (column
    names and all) with `csv` set to this file; failing that, with the first dataset plugin that
    accepts it as its `csv` param."""
    reasons = []
    if trained_on is not None:
        try:
            spec = registry.get("datasets", trained_on.name)
            if "csv" in spec.params.model_fields:  # the recipe's names, not its files
                fields = spec.params.model_fields
                params = {k: v for k, v in trained_on.params.items() if k in fields and not is_path_field(fields[k])}
                table: pd.DataFrame = spec.build({**params, "csv": str(path)})
                return table
        except Exception as exc:  # the generic readers below may still read it
            reasons.append(f"{trained_on.name} (as trained): {getattr(exc, 'message', type(exc).__name__)}")
    for spec in registry.components("datasets"):
        if "csv" not in spec.params.model_fields:
            continue
        try:
            table = spec.build({"csv": str(path)})
            return table
        except Exception as exc:  # the next plugin may read it
            reasons.append(f"{spec.name}: {getattr(exc, 'message', type(exc).__name__)}")
    raise UsageError(f"no dataset plugin reads '{path}'", hint="; ".join(reasons) or "no plugin takes a csv")


def gather(inputs: list[Path], registry: Registry, trained_on: ComponentChoice | None = None) -> pd.DataFrame:
    """One row per image to score: image, and sample_id, patient_id, joint, date when known.

    `trained_on` is the run's dataset reference: CSVs are read the way training read its data."""
    frames = []
    for item in inputs:
        if item.is_dir():
            frames.append(pd.DataFrame({"image": [str(p) for p in images_in(item)]}))
        elif item.suffix.lower() == ".csv" and item.is_file():
            frames.append(_from_csv(item, registry, trained_on))
        else:  # an image; a missing one becomes an error row when it is read
            frames.append(pd.DataFrame({"image": [str(item)]}))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"image": []})
    if table.empty:
        raise UsageError(
            "no images found in the inputs",
            hint=f"give image files ({', '.join(sorted(IMAGE_SUFFIXES))}), folders or a CSV",
        )
    if "sample_id" not in table.columns:
        table["sample_id"] = table["image"]
    keep = [c for c in ("sample_id", "image", "patient_id", "joint", "date") if c in table.columns]
    return table[keep].reset_index(drop=True)


def score(model: ZooModel, config: SavedModelConfig, table: pd.DataFrame, device: torch.device) -> pd.DataFrame:
    """Per-joint predictions (error rows for unreadable images)."""
    size, equalize, target = config["image_size"], config["equalize"], config["target"]
    pixels, errors = np.zeros((len(table), size, size), np.uint8), {}
    for i, path in enumerate(track(table["image"], "reading images")):
        try:
            pixels[i] = load_prepared(path, size, equalize)
        except UnreadableImage as exc:
            errors[i] = str(exc)
    ok = np.array([i not in errors for i in range(len(table))])
    results: dict[str, list[np.ndarray]] = {}
    model.to(device).to(memory_format=torch.channels_last).eval()  # as in training: faster convolutions
    rows = np.flatnonzero(ok)
    with torch.inference_mode(), task("scoring", len(rows)) as step:
        for start in range(0, len(rows), BATCH):
            chosen = rows[start : start + BATCH]
            x = to_model_input(torch.from_numpy(pixels[chosen]).unsqueeze(1), device, channels_last=True)
            for key, value in model.predict(model(x)).items():
                results.setdefault(key, []).append(value.float().cpu().numpy())
            step.advance(len(chosen))
    merged = {k: np.concatenate(v) for k, v in results.items()}
    if not all(np.isfinite(v).all() for v in merged.values()):
        raise ZooError(
            "the model gives NaN or infinite outputs (damaged weights?); its scores would mean nothing",
            hint="train the recipe again, with a lower learning rate",
        )
    out = table.copy()
    out["status"] = [f"error: {errors[i]}" if i in errors else "ok" for i in range(len(table))]
    if not ok.any():  # nothing readable: the error rows are the whole answer
        return out

    def column(values: np.ndarray) -> np.ndarray:
        full = np.full((len(table), *values.shape[1:]), np.nan)
        full[ok] = values
        return full

    probs = column(merged["probs"]) if "probs" in merged else None
    spec = TARGETS[target]
    if spec.decision and config.get("threshold") is not None and "probs" in merged:  # the run's operating point
        out[spec.column] = column(decide(merged["probs"][:, 1], config["threshold"]))
    else:
        out[spec.column] = column(merged["pred"])
    for key, suffix in INTERVAL_COLUMNS.items():
        if key in merged:
            out[spec.column + suffix] = column(merged[key])
    if "stage" in merged and spec.column != "stage":  # a continuous head's most probable stage
        out["stage"] = column(merged["stage"])
    if probs is not None:
        for k, name in enumerate(spec.probability_columns):
            out[name] = probs[:, k]
        top = probs.max(axis=1)
        unsure = top < UNSURE_PROBABILITY
        if "lower" in merged and "upper" in merged:
            unsure |= column(merged["upper"] - merged["lower"]) > UNSURE_WIDTH
        out["unsure"] = pd.array(
            [bool(u) if good else None for u, good in zip(unsure, ok, strict=True)], dtype="boolean"
        )
    return out


def rau_by_visit(joints: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Rau score per patient (and date): the median and 80 % interval of scores drawn from the
    joints' stage probabilities (`visit_joints`: each joint of a visit counted once)."""
    stage_columns = [c for c in joints.columns if c.startswith("p_stage_")]
    if "patient_id" not in joints.columns or "joint" not in joints.columns or not stage_columns:
        return pd.DataFrame()
    scored, _ = visit_joints(joints)
    keys = ["patient_id", "date"] if "date" in joints.columns else ["patient_id"]
    rng = np.random.default_rng(seed)
    rows = []
    for key, group in scored.groupby(keys, sort=True):
        probs = group[stage_columns].to_numpy(float)
        probs = probs / probs.sum(axis=1, keepdims=True)
        cumulative = probs.cumsum(axis=1)
        draws = (rng.random((RAU_DRAWS, len(group), 1)) > cumulative[None]).sum(axis=2)
        rau = draws.sum(axis=1) * RAU_FACTOR / len(group)
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        rows.append({
            **values,
            "joints_scored": len(group),
            "rau_score": round(float(np.median(rau)), 2),
            "rau_low80": round(float(np.percentile(rau, 10)), 2),
            "rau_high80": round(float(np.percentile(rau, 90)), 2),
        })  # fmt: skip
    return pd.DataFrame(rows)


def visit_joints(joints: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The scored joints that make up visits, and notes on those that do not: a joint without a
    patient id (or, when the inputs have dates, without a date) is in no visit; a joint listed
    more than once in a visit counts once (its first row)."""
    scored = joints[joints["status"] == "ok"]
    keys = ["patient_id", "date"] if "date" in joints.columns else ["patient_id"]
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
    repeated = scored.duplicated(subset=[*keys, "joint"], keep="first").to_numpy()
    if repeated.any():
        notes.append(
            f"{int(repeated.sum())} joint row(s) repeat a joint already listed for the same visit: "
            "each joint counts once in its visit's Rau score (its first row)"
        )
    return scored[~repeated], notes


def _trained_on(run_dir: Path, registry: Registry) -> ComponentChoice | None:
    """The dataset reference of the run's recipe (None when the run has no readable recipe)."""
    from zoo.compose.recipe import load_run_recipe
    from zoo.runs import RunFolder

    try:
        return load_run_recipe(RunFolder(run_dir), registry).data.dataset
    except UsageError:
        return None


def predict(run_dir: Path, inputs: list[Path], registry: Registry, device: torch.device) -> Scored:
    """Score inputs with the model of a finished run."""
    from zoo.training.model import load

    model, config = load(run_dir, registry)
    table = gather(inputs, registry, _trained_on(run_dir, registry))
    joints = score(model, config, table, device)
    notes = visit_joints(joints)[1] if "patient_id" in joints.columns and "joint" in joints.columns else []
    return Scored(joints=joints, visits=rau_by_visit(joints), notes=notes)
