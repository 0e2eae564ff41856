"""Named points on images, for joint localisation: one row per point, one sample per image.

The CSV (`image, landmark, x, y`, names are params) gives each point's position in pixels of its
image (x to the right, y down, from the top-left corner). Optional columns: `split` (train, val or
test; `valid` and `validation` mean val, as the Digital Hand Atlas names it) and `patient_id`
(without it each image is its own patient, so the split still never puts one image on both
sides). Columns that are the same for every point of an image (a `side`, say) are kept.

Each image becomes one sample whose `landmarks` label is a JSON object of the points, by name:
`{"MCP2": [412.5, 803.0], ...}`; the core checks and orders them (zoo.data.prepare).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.errors import UsageError
from zoo.landmarks import REPEATED

from .params import LandmarkTableParams
from .scqm import default_images, read_csv, require_columns

SPLIT_NAMES = {"valid": "val", "validation": "val"}


def build(params: LandmarkTableParams) -> pd.DataFrame:
    """The `landmark_table` dataset factory."""
    csv = Path(params.csv)
    table = read_csv(csv, "landmarks CSV")
    columns = [params.image_column, params.landmark_column, "x", "y"]
    require_columns(table, columns, "landmarks CSV", csv)
    if table.empty:
        raise UsageError(f"landmarks CSV '{csv}' has no rows", hint="one row per point: image, landmark, x, y")
    folder = Path(params.images) if params.images is not None else default_images(csv)
    images = table[params.image_column].fillna("").astype(str).str.strip()
    kept = [c for c in table.columns if c not in (*columns, params.patient_column)]
    rows = []
    for image, points in table.groupby(images, sort=False):
        row: dict[str, object] = {
            "sample_id": Path(str(image)).stem or str(image),
            "image": str(folder / str(image)) if image and not Path(str(image)).is_absolute() else str(image),
            "patient_id": _one(points, params.patient_column, str(image), default=Path(str(image)).stem),
            "landmarks": _points_json(points, params.landmark_column),
        }
        for column in kept:
            row[column] = _one(points, column, str(image))
        rows.append(row)
    samples = pd.DataFrame(rows)
    if "split" in samples.columns:
        samples["split"] = samples["split"].map(lambda s: SPLIT_NAMES.get(str(s).strip().lower(), s))
    return samples


def _one(points: pd.DataFrame, column: str, image: str, default: object = None) -> object:
    """The image's value of a per-image column; differing values on its points are an error."""
    if column not in points.columns:
        return default
    values = points[column].dropna().astype(str).str.strip().unique()
    if len(values) > 1:
        raise UsageError(
            f"landmarks CSV: image '{image}' has {len(values)} different values in column '{column}'",
            hint="a per-image column (split, patient_id, side) must be the same on every point of an image",
        )
    return values[0] if len(values) else default


def _points_json(points: pd.DataFrame, name_column: str) -> str:
    """The image's points as JSON text; what the core cannot read (a non-number, a name given
    twice) is left in it for the core's label check to report, never dropped here."""
    found: dict[str, object] = {}
    for name, x, y in zip(points[name_column].astype(str).str.strip(), points["x"], points["y"], strict=True):
        position = [_number(x), _number(y)]
        found[name] = position if name not in found else REPEATED
    return json.dumps(found)


def _number(text: object) -> float | str:
    try:
        value = float(str(text))
    except ValueError:
        return str(text)
    return value if np.isfinite(value) else str(text)
