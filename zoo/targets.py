"""The target table: the label scales a dataset gives and the targets a model learns.

A dataset labels its samples on one scale or more (erosion and joint-space narrowing): `percent`
(eroded joint surface, 0-100), `stage` (Ratingen, 0-5), `binary` (eroded or not, 0/1),
`svdh_erosion` (Sharp/van der Heijde erosion score, 0-5), `svdh_jsn` (Sharp/van der Heijde
joint-space narrowing, 0-4) or `landmarks` (the pixel positions of named points on a
radiograph: joint localisation). A recipe's target must be reachable from it: percent ->
percent, stage, binary, svdh_erosion (zoo.clinical's rule); stage -> stage, binary; binary ->
binary; svdh_erosion -> svdh_erosion; svdh_jsn -> svdh_jsn; landmarks -> landmarks. The classes
used for stratified splits and imbalance strategies are the Ratingen stages for `percent` and
`stage`, the grades for the SvdH scales, 0/1 for `binary`, one class for `landmarks`.

Every per-target decision of the core reads this table (`TARGETS`): how many classes, how
labels look, how a model's predictions are named in files. Which metric ranks a target by
default is declared by the metric plugins (`ranks=`), not here. Kept free of heavy imports:
the CLI reads it to list the targets.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = 6  # Ratingen stages 0-5


@dataclass(frozen=True)
class Target:
    """One label scale and model target."""

    name: str
    description: str
    low: float  # the range of a label
    high: float
    classes: int | None  # classes the model predicts (None: a continuous value)
    class_names: tuple[str, ...] | None  # what config.json calls the classes
    strata: int  # classes for stratified splits and imbalance (Ratingen stages for percent)
    reachable: tuple[str, ...]  # targets a dataset labelled on this scale can train
    column: str  # `zoo predict`'s column of the predicted value
    probability_columns: tuple[str, ...]  # `zoo predict`'s columns of the class probabilities
    points: bool = False  # a label is the (x, y) position of each of a set of named points, not a number

    @property
    def whole(self) -> bool:
        """Whether labels are whole numbers (classes)."""
        return self.classes is not None

    @property
    def decision(self) -> bool:
        """Whether predictions are a yes/no decision with an operating threshold (two classes)."""
        return self.classes == 2

    def rule(self) -> str:
        """What a valid label is, for messages."""
        if self.points:
            return f"{self.name} labels are JSON objects of point names to [x, y] pixels inside the image"
        whole = "whole numbers " if self.whole else ""
        return f"{self.name} labels are {whole}{self.low:g} to {self.high:g}"


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target(
            "percent",
            "eroded share of the joint surface, 0-100 (the thesis's regression target)",
            0.0,
            100.0,
            None,
            None,
            STAGES,
            ("percent", "stage", "binary", "svdh_erosion"),
            "percent",
            tuple(f"p_stage_{k}" for k in range(STAGES)),
        ),
        Target(
            "stage",
            "Ratingen stage 0-5",
            0.0,
            5.0,
            STAGES,
            tuple(str(k) for k in range(STAGES)),
            STAGES,
            ("stage", "binary"),
            "stage",
            tuple(f"p_stage_{k}" for k in range(STAGES)),
        ),
        Target(
            "binary",
            "eroded or not",
            0.0,
            1.0,
            2,
            ("healthy", "eroded"),
            2,
            ("binary",),
            "eroded",
            ("p_healthy", "p_eroded"),
        ),
        Target(
            "svdh_erosion",
            "Sharp/van der Heijde erosion score 0-5 of a hand joint",
            0.0,
            5.0,
            6,
            tuple(str(k) for k in range(6)),
            6,
            ("svdh_erosion",),
            "svdh_erosion",
            tuple(f"p_svdh_erosion_{k}" for k in range(6)),
        ),
        Target(
            "svdh_jsn",
            "Sharp/van der Heijde joint-space narrowing 0-4 of a hand joint",
            0.0,
            4.0,
            5,
            tuple(str(k) for k in range(5)),
            5,
            ("svdh_jsn",),
            "jsn",
            tuple(f"p_jsn_{k}" for k in range(5)),
        ),
        Target(
            "landmarks",
            "the positions of named points on an image (joint localisation on a radiograph)",
            0.0,
            1.0,
            None,
            None,
            1,
            ("landmarks",),
            "points",
            (),
            points=True,
        ),
    )
}
SCALES = tuple(TARGETS)
