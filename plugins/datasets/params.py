"""The params of the datasets plugin's components: what a recipe may set, checked before any work."""

from __future__ import annotations

import string
from typing import Literal

from pydantic import Field, field_validator

from zoo.paths import RecipePath

from ..common import Params

THESIS_JOINTS = [f"mcp{i}" for i in range(1, 6)] + [f"pip{i}" for i in range(1, 6)]


class ScqmParams(Params):
    """The thesis's export: a main CSV of scores per joint, crops found by sop_iuid and joint."""

    csv: RecipePath = Field(description="the main CSV (id_x, patient_id, date_x, ..., hand_left_<joint>)")
    images: RecipePath | None = Field(
        None, description="folder of crops (default: images/ beside the CSV if it exists, else the CSV's folder)"
    )
    secondary_csv: RecipePath | None = Field(
        None, description="optional CSV of disease activity, merged on patient_id and date"
    )
    joints: list[str] = Field(list(THESIS_JOINTS), min_length=1, description="joint names")
    column_prefix: str = Field("hand_left_", description="score column = prefix + joint")
    jsn_prefix: str | None = Field(
        None, description="joint-space narrowing (SvdH 0-4) column = prefix + joint (the phantom's: jsn_hand_left_)"
    )
    image_pattern: str = Field("{sop_iuid}_{joint}.jpg", description="crop file name, from {sop_iuid} and {joint}")

    @field_validator("image_pattern")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(value)]
        except ValueError:
            raise ValueError("image_pattern has an unclosed '{' or '}'") from None
        for name, spec, conversion in fields:
            if name is None:
                continue
            if name not in ("sop_iuid", "joint"):
                raise ValueError(f"image_pattern knows only {{sop_iuid}} and {{joint}}, not {{{name}}}")
            if spec or conversion:  # `{sop_iuid:>400000000}` would pad every name to 400 MB
                raise ValueError("image_pattern's placeholders take no format or conversion: {sop_iuid}, {joint}")
        return value


class ManifestParams(Params):
    """A generic CSV: path, label, patient_id (+ joint, date, split, id)."""

    csv: RecipePath = Field(description="the manifest CSV; relative paths in it resolve against its folder")
    label_scale: Literal["percent", "stage", "binary", "svdh_erosion", "svdh_jsn"] = Field(
        "percent",
        description="what the labels are: percent (0-100), stage (0-5), binary (0/1), svdh_erosion (0-5) or "
        "svdh_jsn (0-4)",
    )
    path_column: str = "path"
    label_column: str = "label"
    jsn_column: str | None = Field(None, description="a second label column: joint-space narrowing, SvdH 0-4")
    patient_column: str = "patient_id"
    id_column: str = Field("id", description="unique sample ids (default: the path)")


class LandmarkTableParams(Params):
    """A table of named points on images: image, landmark, x, y (+ split, patient_id)."""

    csv: RecipePath = Field(description="the landmarks CSV: one row per point of an image")
    images: RecipePath | None = Field(
        None, description="folder of the images (default: images/ beside the CSV if it exists, else the CSV's folder)"
    )
    image_column: str = "image"
    landmark_column: str = Field("landmark", description="the point's name (rsna-hands' joints.csv: joint)")
    patient_column: str = Field(
        "patient_id", description="the patient's id; without it each image is its own patient"
    )
