"""A generic CSV of labelled images, so any user's data works.

Columns (names are params): `path` (relative paths resolve against the CSV's folder), `label`
(on the scale `label_scale`), `patient_id`; optional `joint`, `date`, `split` (train/val/test, to
fix the split yourself) and `id` (defaults to the path); any other column is kept. Training needs
the label and patient columns; `zoo predict` reads a manifest without them (e.g. the crops.csv
of `zoo data crop`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from zoo.errors import UsageError
from zoo.targets import SCALES

from .params import ManifestParams
from .scqm import read_csv, require_columns

OPTIONAL = ("joint", "date", "split")


def build(params: ManifestParams) -> pd.DataFrame:
    """The `manifest` dataset factory."""
    csv = Path(params.csv)
    table = read_csv(csv, "manifest")
    require_columns(table, [params.path_column], "manifest", csv)
    folder = csv.parent
    paths = table[params.path_column].fillna("")
    samples = pd.DataFrame({
        "sample_id": table[params.id_column] if params.id_column in table.columns else paths,
        "image": [str(folder / p) if p and not Path(p).is_absolute() else p for p in paths],
    })  # fmt: skip
    if params.patient_column in table.columns:
        samples["patient_id"] = table[params.patient_column]
    if params.label_column in table.columns:
        samples[params.label_scale] = table[params.label_column]
    if params.jsn_column is not None:
        if params.label_scale == "svdh_jsn":
            raise UsageError(
                "manifest: label_scale svdh_jsn and a jsn_column name two columns for one scale",
                hint="give the JSN grades as the label (label_scale: svdh_jsn) or as jsn_column, not both",
            )
        require_columns(table, [params.jsn_column], "manifest", csv)
        samples["svdh_jsn"] = table[params.jsn_column]
    used = {params.path_column, params.label_column, params.patient_column, params.id_column, params.jsn_column}
    extra = [column for column in table.columns if column not in used and column not in samples.columns]
    named_like_labels = [column for column in extra if column in SCALES]
    if named_like_labels:  # kept as is, it would be taken for a label
        raise UsageError(
            f"manifest '{csv}': column '{named_like_labels[0]}' has the name of a label scale but is not its label",
            hint="name it as label_column (with label_scale) or jsn_column, or rename it",
        )
    for column in extra:
        samples[column] = table[column]
    first = ["sample_id", "image", *[c for c in ("patient_id", *OPTIONAL) if c in samples.columns]]
    return samples[first + [c for c in samples.columns if c not in first]]
