"""The thesis's SCQM export: a main CSV of per-joint scores and one crop per joint.

Main CSV (thesis Table 2): `id_x, patient_id, date_x, date_y, sop_iuid, body_part,
hand_left_<joint>..., rau_score`. Each joint column holds the eroded percentage; an empty cell
means the joint was not scored and the crop is skipped (never read as 0). The crop of a joint is
`images/<image_pattern>` with `{sop_iuid}` and `{joint}` filled in. The optional secondary CSV
(Table 3: `patient_id, date, ...disease activity...`) is merged on patient and `date_x == date`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.errors import UsageError
from zoo.paths import read_csv as read_table
from zoo.paths import regular_file

from .params import ScqmParams

MAIN_COLUMNS = ("id_x", "patient_id", "date_x", "sop_iuid")
SECONDARY_KEYS = ("patient_id", "date")


def read_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV as text columns (empty cells become NaN); a missing file is a `UsageError`."""
    regular_file(path, what, hint="check the dataset's params")
    header = _header(path)
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise UsageError(
            f"{what} '{path}' has the column '{twice[0]}' more than once",
            hint="give each column one name; the zoo would not know which to read",
        )
    hint = "check the dataset's params and the file's format"
    return read_table(path, what, hint=hint, dtype=str, skip_initial_space=True)


def _header(path: Path) -> list[str]:
    """The CSV's column names, as written in its first row."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        first = next(csv.reader(handle), [])
    return [name.strip() for name in first]


def require_columns(table: pd.DataFrame, columns: list[str] | tuple[str, ...], what: str, path: Path) -> None:
    """Fail with every missing column named at once."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UsageError(
            f"{what} '{path}' lacks column(s): {', '.join(missing)}",
            hint=f"it has: {', '.join(map(str, table.columns))}",
        )


def default_images(csv: Path) -> Path:
    """Where crops are when `images` is not given: `images/` beside the CSV (as the phantom
    writes them), else the CSV's own folder."""
    beside = csv.parent / "images"
    return beside if beside.is_dir() else csv.parent


def load(
    csv: str | Path,
    images: str | Path | None,
    secondary_csv: str | Path | None,
    joints: list[str],
    column_prefix: str,
    image_pattern: str,
    jsn_prefix: str | None = None,
) -> pd.DataFrame:
    """The sample table of an SCQM export: one row per joint with an erosion score, or with
    `jsn_prefix` with either score (the other empty where not read)."""
    csv = Path(csv)
    folder = Path(images) if images else default_images(csv)
    main = read_csv(csv, "main CSV")
    score_columns = [column_prefix + joint for joint in joints]
    jsn_columns = [jsn_prefix + joint for joint in joints] if jsn_prefix else []
    require_columns(main, [*MAIN_COLUMNS, *score_columns, *jsn_columns], "main CSV", csv)
    main["_row"] = range(len(main))
    if jsn_columns:
        jsn = main.melt(id_vars=["_row"], value_vars=jsn_columns, var_name="joint", value_name="svdh_jsn")
        jsn["joint"] = jsn["joint"].str.removeprefix(str(jsn_prefix))
        main = main.drop(columns=jsn_columns)
    long = main.melt(
        id_vars=[c for c in main.columns if c not in score_columns],
        value_vars=score_columns,
        var_name="joint",
        value_name="percent",
    )
    long["joint"] = long["joint"].str.removeprefix(column_prefix)
    if jsn_columns:
        long = long.merge(jsn, on=["_row", "joint"], how="left", validate="one_to_one")
    scores = ["percent", *(["svdh_jsn"] if jsn_columns else [])]
    scored = np.zeros(len(long), dtype=bool)
    for column in scores:  # a joint with any score is a sample; its missing one is listed by data check
        scored |= (long[column].notna() & (long[column].str.strip() != "")).to_numpy()
    long = long[scored].copy()
    long["_joint"] = long["joint"].map({joint: i for i, joint in enumerate(joints)})
    long = long.sort_values(["_row", "_joint"], kind="stable").drop(columns=["_row", "_joint"])
    long["sample_id"] = long["id_x"].astype(str) + ":" + long["joint"]
    long["image"] = [
        str(folder / image_pattern.format(sop_iuid=sop, joint=joint))
        for sop, joint in zip(long["sop_iuid"], long["joint"], strict=True)
    ]
    long["date"] = long["date_x"]
    if secondary_csv:
        secondary_path = Path(secondary_csv)
        secondary = read_csv(secondary_path, "secondary CSV")
        require_columns(secondary, SECONDARY_KEYS, "secondary CSV", secondary_path)
        doubled = secondary.duplicated(list(SECONDARY_KEYS), keep=False)
        if doubled.any():
            raise UsageError(
                f"secondary CSV '{secondary_path}' has {int(doubled.sum())} rows sharing a patient_id and date",
                hint="keep one row per patient and consultation date",
            )
        extra = secondary.drop(columns=[c for c in secondary.columns if c in long.columns and c not in SECONDARY_KEYS])
        long = long.merge(
            extra,
            how="left",
            left_on=["patient_id", "date_x"],
            right_on=list(SECONDARY_KEYS),
            suffixes=("", "_secondary"),
        ).drop(columns=["date_secondary"], errors="ignore")
    order = ["sample_id", "image", "patient_id", "joint", "date", "percent", *(["svdh_jsn"] if jsn_columns else [])]
    rest = [c for c in long.columns if c not in order]
    table = long[order + rest].reset_index(drop=True)
    unscored = int((~scored).sum())
    if unscored:
        table.attrs["notes"] = [f"{unscored} joint(s) without any score were skipped (not scored)"]
    return table


def build(params: ScqmParams) -> pd.DataFrame:
    """The `scqm` dataset factory."""
    return load(
        params.csv,
        params.images,
        params.secondary_csv,
        params.joints,
        params.column_prefix,
        params.image_pattern,
        params.jsn_prefix,
    )
