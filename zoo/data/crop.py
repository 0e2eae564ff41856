"""Cut joint crops out of full radiographs, given the joints' pixel positions.

The step before scoring: a joint locator (`zoo data crop --locate`) or a person gives
`image, joint, x, y` per joint;
each crop is a square centred on the joint, padded with black where it runs past the
radiograph's edge (as in the thesis's crops), resized to `size`. The side of the square is
`box` pixels, or by default the median distance from each finger joint to its nearest
neighbour on the same radiograph, which follows the hand's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from zoo.errors import UsageError
from zoo.formatting import blank
from zoo.images import UnreadableImage, load_gray
from zoo.paths import read_csv, safe_name

COLUMNS = ("image", "joint", "x", "y")
CROP_COLUMNS = ["path", "patient_id", "image", "joint", "x", "y", "box"]
LOCATED_COLUMNS = ["side", "hand", "confidence"]  # kept in crops.csv where the joints table has them (located)


def auto_box(points: np.ndarray) -> int:
    """Median nearest-neighbour distance between joints (pixels)."""
    if len(points) < 2:
        raise UsageError("cannot size the crops from a single joint", hint="give --box PX")
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return max(8, round(float(np.median(distances.min(axis=1)))))


def crop_square(image: Image.Image, x: float, y: float, box: int, size: int) -> Image.Image:
    """A `box`-pixel square centred on (x, y), black outside the image, resized to `size`."""
    left, top = round(x - box / 2), round(y - box / 2)
    square = Image.new("L", (box, box), 0)
    square.paste(image.crop((left, top, left + box, top + box)), (0, 0))
    return square.resize((size, size), Image.Resampling.BILINEAR) if box != size else square


def read_joints(path: Path) -> pd.DataFrame:
    """The joints CSV; missing columns or non-numeric positions are a `UsageError`."""
    hint = "give the CSV of image, joint, x, y"
    table = read_csv(path, "joints CSV", hint=hint, dtype={"image": str, "joint": str, "patient_id": str})
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise UsageError(
            f"joints CSV '{path}' lacks column(s): {', '.join(missing)}",
            hint="columns: image, joint, x, y (pixels), optional side",
        )
    for axis in ("x", "y"):
        values = pd.to_numeric(table[axis], errors="coerce")
        bad = values.isna()
        if bad.any():
            raise UsageError(
                f"joints CSV '{path}': {int(bad.sum())} row(s) with a non-numeric {axis}",
                hint=f"first at CSV line {int(np.flatnonzero(bad)[0]) + 2}",
            )
        table[axis] = values
    return table


def _hand_label(hand: object) -> str:
    """A hand's number as a file name part: 1, not 1.0."""
    if isinstance(hand, int | float) and float(hand).is_integer():
        return str(int(hand))
    return str(hand).strip()


def crop_joints(
    images: Path,
    joints: pd.DataFrame,
    out: Path,
    size: int,
    box: int | None = None,
    wrist_prefix: str = "W",
    mirror_right: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write one PNG crop per joint of the `joints` table (`read_joints`); return (crops written,
    problems) as tables.

    `crops.csv` lists the finger joints with `patient_id` (the joints CSV's column, else the
    radiograph's name), so `zoo predict OUT/crops.csv` gives Rau scores at once. Joints whose name
    starts with `wrist_prefix` are wrist landmarks: they are cropped too, but listed apart in
    `wrists.csv` (finger-joint models must not score them) and do not size the automatic box.
    With `mirror_right`, crops of joints whose `side` is R are mirrored to look like left ones, as
    `zoo predict` cuts a radiograph's right hand (`zoo data crop --locate`).
    """
    out.mkdir(parents=True, exist_ok=True)
    written, problems, files = [], [], set()
    for name, rows in joints.groupby("image", sort=False):
        try:
            radiograph = load_gray(images / str(name))
        except UnreadableImage as exc:
            problems += [{"image": name, "joint": j, "problem": str(exc)} for j in rows["joint"]]
            continue
        fingers = rows[~rows["joint"].str.upper().str.startswith(wrist_prefix.upper())]
        side = box or auto_box(fingers[["x", "y"]].to_numpy(float))
        for row in rows.itertuples():
            # read_joints made x and y numeric; the stubs type a row's values as any scalar.
            x, y = cast(float, row.x), cast(float, row.y)
            inside = -side / 2 < x < radiograph.width + side / 2 and -side / 2 < y < radiograph.height + side / 2
            if not inside:
                problems.append({"image": name, "joint": row.joint, "problem": "joint lies outside the image"})
                continue
            hand = getattr(row, "hand", None)  # two hands on one film: each hand's joints apart
            stem = safe_name(Path(str(name)).stem) + ("" if blank(hand) else f"_hand{safe_name(_hand_label(hand))}")
            file = f"{stem}_{safe_name(str(row.joint))}.png"
            if file in files:
                problems.append({"image": name, "joint": row.joint, "problem": f"another joint is already {file}"})
                continue
            files.add(file)
            crop = crop_square(radiograph, x, y, side, size)
            if mirror_right and str(getattr(row, "side", "")).strip().upper() == "R":
                crop = ImageOps.mirror(crop)
            crop.save(out / file)
            patient = getattr(row, "patient_id", None)
            written.append(
                {
                    "path": file,
                    "patient_id": Path(str(name)).stem if patient is None or pd.isna(patient) else patient,
                    "image": name,
                    "joint": row.joint,
                    "x": x,
                    "y": y,
                    "box": side,
                    "wrist": str(row.joint).upper().startswith(wrist_prefix.upper()),
                    **{key: getattr(row, key) for key in LOCATED_COLUMNS if key in joints.columns},
                }
            )
    columns = CROP_COLUMNS + [key for key in LOCATED_COLUMNS if key in joints.columns]
    crops = pd.DataFrame(written, columns=[*columns, "wrist"])
    crops[~crops["wrist"]][columns].to_csv(out / "crops.csv", index=False)
    crops[crops["wrist"]][columns].to_csv(out / "wrists.csv", index=False)
    return crops, pd.DataFrame(problems, columns=["image", "joint", "problem"])
