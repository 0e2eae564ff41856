"""Score new crops and radiographs with a trained model: per joint, per patient and visit (Rau
score, SvdH sums) and per patient over time (zoo.using.visits).

Inputs are image files, folders of images, or a dataset CSV that a dataset plugin reads (its
`csv` param: e.g. an SCQM main CSV, or a manifest of `path` [+ `patient_id`, `joint`, `date`]).
Each image is a joint crop or a radiograph (`input_kinds`, by its size unless told; a large
square image is a radiograph where the locator finds a hand on it): crops go to
the scorer, radiographs through the joint locator first (zoo.using.radiograph), whose located
joints are cut and scored like crops. A crop of a joint the scorer was not trained on (a wrist)
is listed and not scored (`not_scored`). Every image goes through the preprocessing the model
was trained with (`config.json`).

Per joint: each target's prediction with its probabilities (a multi-target model's main target
first: stage, then JSN), plus for a CDF model the expected percent and an 80 % interval; `unsure`
flags a wide interval (more than `UNSURE_WIDTH` points) or a most probable class of any target
below `UNSURE_PROBABILITY`. Per patient and visit (when patient ids and joints are known), and per
patient between visits: zoo.using.visits. Inputs that cannot be read are rows with an error; the
others are still scored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from PIL import Image

from zoo.compose.registry import Registry
from zoo.data.loader import to_model_input
from zoo.errors import UsageError, ZooError
from zoo.formatting import blank
from zoo.images import DICOM_SUFFIX, IMAGE_SUFFIXES, UnreadableImage, check_file, images_in, load_gray, load_prepared
from zoo.images import prepare as prepare_image
from zoo.landmarks import FOUND_CONFIDENCE
from zoo.output import warn, writable_folder
from zoo.paths import is_path_field, read_csv, safe_name
from zoo.predictions import decide
from zoo.progress import task, track
from zoo.targets import TARGETS
from zoo.using.radiograph import (
    SCORING_JOINTS,
    SQUARE,
    Locator,
    draw_overlay,
    input_kind,
    joint_crops,
    load_locator,
    split_hands,
)
from zoo.using.visits import by_visit, patient_changes, visit_joints

if TYPE_CHECKING:
    from zoo.protocols import ComponentChoice
    from zoo.runs import SavedModelConfig
    from zoo.training.model import TrainedModel

UNSURE_WIDTH = 20.0
INTERVAL_COLUMNS = {"median": "_median", "lower": "_low80", "upper": "_high80"}  # head outputs, by suffix
UNSURE_PROBABILITY = 0.5
BATCH = 64
KEPT = ("order", "sample_id", "image", "patient_id", "date")  # a radiograph's columns each of its joints repeats
WRIST = re.compile(r"^(w\d*|wrist.*)$", re.IGNORECASE)  # `zoo data crop`'s wrist landmarks: W0, W1, ...


@dataclass
class Scored:
    """Per-joint rows, per-visit rows, and what the user should know about them."""

    joints: pd.DataFrame
    visits: pd.DataFrame
    changes: pd.DataFrame  # per patient with two or more visits: the change between the first and last
    notes: list[str]  # joints left out of the visits, or counted once of several; patients with one visit
    caveat: str | None = None  # the scorer's one-line caveat, which every score carries
    overlays: list[Path] = field(default_factory=list)  # one picture per radiograph


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


def _folder(folder: Path) -> pd.DataFrame:
    """The images of a folder; where `zoo data crop` wrote it, with each crop's joint and patient
    from its crops.csv and wrists.csv (so that wrists are known as wrists)."""
    table = pd.DataFrame({"image": [str(p) for p in images_in(folder)]})
    listed = []
    for name in ("crops.csv", "wrists.csv"):
        if (folder / name).is_file():
            try:
                listed.append(read_csv(folder / name, "crops list", hint="", dtype=str))
            except UsageError as exc:  # the images are still scored, without its names
                warn(f"{exc.message}: its crops are scored without their joints' names")
    known = pd.concat(listed, ignore_index=True) if listed else pd.DataFrame()
    if {"path", "joint", "patient_id"} <= set(known.columns):
        known = known.assign(image=[str(folder / p) for p in known["path"]]).drop_duplicates("image")
        table = table.merge(known[["image", "patient_id", "joint"]], on="image", how="left")
    return table


def gather(inputs: list[Path], registry: Registry, trained_on: ComponentChoice | None = None) -> pd.DataFrame:
    """One row per image to score: image, and sample_id, patient_id, joint, date when known.

    `trained_on` is the run's dataset reference: CSVs are read the way training read its data."""
    frames = []
    for item in inputs:
        if item.is_dir():
            frames.append(_folder(item))
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


def score(
    model: TrainedModel,
    config: SavedModelConfig,
    table: pd.DataFrame,
    device: torch.device,
    pixels: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-joint predictions (error rows for unreadable images). `pixels` (N, S, S) are the crops
    already prepared for the model (cut from radiographs); without them each row's image is read."""
    size, equalize, target = config["image_size"], config["equalize"], config["target"]
    errors: dict[int, str] = {}
    if pixels is None:
        pixels = np.zeros((len(table), size, size), np.uint8)
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
            outputs = model(x)  # one call for every target of a multi-target model
            for served in model.targets:
                for key, value in model.predict_target(outputs, served).items():
                    results.setdefault(f"{served}/{key}", []).append(value.float().cpu().numpy())
            step.advance(len(chosen))
    every = {k: np.concatenate(v) for k, v in results.items()}
    if not all(np.isfinite(v).all() for v in every.values()):
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

    unsure = np.zeros(len(table), dtype=bool)
    for served in model.targets:  # the main target's columns first, then each extra target's
        merged = {k.partition("/")[2]: v for k, v in every.items() if k.partition("/")[0] == served}
        spec = TARGETS[served]
        threshold = config.get("threshold") if served == target else None  # the run's operating point
        if spec.decision and threshold is not None and "probs" in merged:
            out[spec.column] = column(decide(merged["probs"][:, 1], threshold))
        else:
            out[spec.column] = column(merged["pred"])
        for key, suffix in INTERVAL_COLUMNS.items():
            if key in merged:
                out[spec.column + suffix] = column(merged[key])
        if "stage" in merged and spec.column != "stage" and "stage" not in out:  # a continuous head's stage
            out["stage"] = column(merged["stage"])
        if "probs" in merged:
            probs = column(merged["probs"])
            for k, name in enumerate(spec.probability_columns):
                out[name] = probs[:, k]
            unsure |= probs.max(axis=1) < UNSURE_PROBABILITY
            if "lower" in merged and "upper" in merged:
                unsure |= column(merged["upper"] - merged["lower"]) > UNSURE_WIDTH
    if any(k.endswith("/probs") for k in every):
        out["unsure"] = pd.array(
            [bool(u) if good else None for u, good in zip(unsure, ok, strict=True)], dtype="boolean"
        )
    return out


def _trained_on(run_dir: Path, registry: Registry) -> ComponentChoice | None:
    """The dataset reference of the run's recipe (None when the run has no readable recipe)."""
    from zoo.compose.recipe import load_run_recipe
    from zoo.runs import RunFolder

    try:
        return load_run_recipe(RunFolder(run_dir), registry).data.dataset
    except UsageError:
        return None


def input_kinds(table: pd.DataFrame, given: str) -> list[str]:
    """Each row's kind: 'crop', 'radiograph', or why it is refused (`given`: auto, crop or radiograph)."""
    if given != "auto":
        return [given] * len(table)
    kinds = []
    for path in table["image"].astype(str):
        if Path(path).suffix.lower() == DICOM_SUFFIX:
            kinds.append("radiograph")
            continue
        try:
            check_file(path)
            with Image.open(path) as image:  # the header only
                kinds.append(input_kind(image.size))
        except (UnreadableImage, OSError, ValueError, Image.DecompressionBombError):
            kinds.append("crop")  # reading it again gives the error row its reason
    return kinds


def _crop_or_radiograph(path: object, locator: Locator) -> str:
    """A large square image's kind: a radiograph where the locator finds a hand on it, else a crop."""
    try:
        image = load_gray(str(path))
    except UnreadableImage:
        return "crop"  # reading it again gives the error row its reason
    return "radiograph" if locator.locate(image, 0).is_hand else "crop"


def not_scored(joint: object, config: SavedModelConfig) -> str | None:
    """Why a crop of `joint` is not scored by this model, or None: a model scores only the joints it
    was trained on (its config's `joints`); one that does not name them is taken for a finger-joint
    model and scores no wrist. Radiograph annotations' names count as the thesis's (IP is pip1,
    MP is mcp1: the thumb's joints)."""
    if blank(joint):
        return None
    name = SCORING_JOINTS.get(str(joint).strip().upper(), str(joint).strip().lower())
    trained = config.get("joints")
    if trained is not None and name not in trained:
        return f"not scored: the model was trained on {', '.join(trained[:6])}{'...' if len(trained) > 6 else ''}"
    if trained is None and WRIST.match(name):
        return "not scored: a wrist crop, and the model is a finger-joint model"
    return None


def _radiographs(
    table: pd.DataFrame,
    locator: Locator,
    model: TrainedModel,
    config: SavedModelConfig,
    device: torch.device,
    overlays: Path | None,
) -> tuple[pd.DataFrame, list[Path]]:
    """Every radiograph's scoring joints as rows: located, cut, scored (or why not), and its overlay
    drawn (one radiograph in memory at a time); the overlays written."""
    size, equalize = config["image_size"], config["equalize"]
    parts: list[pd.DataFrame] = []
    written: list[Path] = []
    if overlays is not None:
        writable_folder(overlays, "--overlays")
    for record in track(table.to_dict("records"), "locating joints"):
        path = str(record["image"])
        base: dict[str, object] = {k: record[k] for k in KEPT if k in record}
        if blank(base.get("patient_id")):
            base["patient_id"] = Path(path).stem
        try:
            image = load_gray(path)
        except UnreadableImage as exc:
            parts.append(pd.DataFrame([{**base, "status": f"error: {exc}"}]))
            continue
        hands = [locator.locate(hand, offset) for hand, offset in split_hands(image)]
        rows: list[dict[str, object]] = []
        crops: list[np.ndarray] = []
        for number, hand in enumerate(hands, start=1):
            label = f"#{number}" if len(hands) > 1 else ""
            if not hand.is_hand:
                status = f"no hand found: {hand.reason}"
                rows.append({**base, "sample_id": f"{base['sample_id']}{label}", "status": status})
                continue
            cut = joint_crops(image, hand, size)
            for name, (x, y, confidence) in hand.joints.items():
                joint = SCORING_JOINTS[name]
                row: dict[str, object] = {
                    **base, "sample_id": f"{base['sample_id']}{label}:{joint}", "joint": joint, "side": hand.side,
                    "hand": number, "x": round(x, 1), "y": round(y, 1), "confidence": round(confidence, 3),
                }  # fmt: skip
                if name in cut:
                    crops.append(prepare_image(cut[name], size, equalize))
                    rows.append({**row, "status": "ok"})
                else:
                    rows.append({**row, "status": f"not found (confidence {confidence:.2f} < {FOUND_CONFIDENCE})"})
        located = pd.DataFrame(rows)
        found = (located["status"] == "ok").to_numpy()
        if found.any():
            scored = score(model, config, located[found].reset_index(drop=True), device, np.stack(crops))
            located = pd.concat([scored, located[~found]], ignore_index=True)
        parts.append(located)
        if overlays is not None:  # each joint marked with its stage (a binary model's: eroded or not)
            column = "stage" if "stage" in located.columns else TARGETS[config["target"]].column
            marks = {
                (int(r["hand"]), str(r["joint"])): float(r[column])
                for r in located[located["status"] == "ok"].to_dict("records")
            }
            name = safe_name(Path(path).stem)
            taken = {p.name for p in written}
            copy = 1
            while f"{name}-overlay.png" in taken:  # two inputs of one name (in different folders)
                copy += 1
                name = f"{safe_name(Path(path).stem)}-{copy}"
            written.append(overlays / f"{name}-overlay.png")
            draw_overlay(image, hands, marks, written[-1])
    return pd.concat(parts, ignore_index=True), written


def predict(
    inputs: list[Path],
    registry: Registry,
    device: torch.device,
    scorer: str | Path | None = None,
    locator: str | Path | None = None,
    overlays: Path | None = None,
    kind: str = "auto",
) -> Scored:
    """Score crops and radiographs: crops with the scorer, radiographs through the locator first
    (None: the plugins' default scorer and locator, `zoo.compose.bundles.default_model`)."""
    from zoo.compose.bundles import default_model, find
    from zoo.training.model import load

    scorer = scorer or default_model(registry, locator=False)
    scorer_dir = find(scorer, registry)
    model, config = load(scorer_dir, registry)
    if TARGETS[config["target"]].points:
        raise UsageError(f"'{scorer}' locates points; it does not score joints", hint="--scorer takes an erosion model")
    table = gather(inputs, registry, _trained_on(scorer_dir, registry))
    table["order"] = np.arange(len(table))
    kinds = np.array(input_kinds(table, kind), dtype=object)
    hand_finder: Locator | None = None
    if (kinds == SQUARE).any():
        hand_finder = load_locator(locator or default_model(registry, locator=True), registry, device)
        kinds[kinds == SQUARE] = [_crop_or_radiograph(p, hand_finder) for p in table["image"][kinds == SQUARE]]
    parts = []
    refused = ~np.isin(kinds, ["crop", "radiograph"])
    if refused.any():
        parts.append(table[refused].assign(status=[f"error: {k}" for k in kinds[refused]]))
    crops = table[kinds == "crop"]
    if len(crops):
        reasons = [not_scored(j, config) for j in crops["joint"]] if "joint" in crops.columns else [None] * len(crops)
        skipped = np.array([r is not None for r in reasons])
        if skipped.any():
            parts.append(crops[skipped].assign(status=[r for r in reasons if r is not None]))
        if (~skipped).any():
            parts.append(score(model, config, crops[~skipped].reset_index(drop=True), device))
    written: list[Path] = []
    radiographs = table[kinds == "radiograph"]
    if len(radiographs):
        found = hand_finder or load_locator(locator or default_model(registry, locator=True), registry, device)
        rows, written = _radiographs(radiographs, found, model, config, device, overlays)
        parts.append(rows)
    joints = pd.concat(parts, ignore_index=True).sort_values("order", kind="stable").drop(columns="order")
    joints = joints.reset_index(drop=True)
    notes = visit_joints(joints)[1] if "patient_id" in joints.columns and "joint" in joints.columns else []
    if locator is not None and not len(radiographs):
        notes.append("the locator was not used: none of the inputs is a radiograph")
    if TARGETS[config["target"]].decision:  # say the cut-off the `eroded` column uses
        cut_off = config.get("threshold")
        source = "the scorer's operating point" if cut_off is not None else "the default"
        notes.append(f"eroded: P(eroded) {cut_off if cut_off is not None else 0.5:g} or more ({source})")
    changes, change_notes = patient_changes(joints, _scorer_sdc(scorer_dir))
    caveat = config.get("caveat")
    return Scored(
        joints=joints,
        visits=by_visit(joints, margin=config.get("rau_margin", 0.0)),
        changes=changes,
        notes=notes + change_notes,
        caveat=caveat,
        overlays=written,
    )


def _scorer_sdc(folder: Path) -> float | None:
    """The smallest detectable change the scorer's run measured on its test split (metrics.json's
    `progression`), or None where it measured none."""
    try:
        results = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        value = results["progression"]["test"]["sdc"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) and value >= 0 else None
