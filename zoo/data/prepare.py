"""From a recipe to checked, split, decoded samples: the step before any training.

`prepare(recipe, registry)` builds the dataset, checks every sample (files, images, labels,
ids, patient leakage), decodes the images into the cache and splits by patient. Problems are
collected, never dropped: `zoo data check` prints them all; a run refuses to start on them
unless the recipe says `on_bad_sample: skip`, and then lists the skipped samples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from zoo.data.cache import DecodedImages, decode
from zoo.data.split import SPLITS, split_patients
from zoo.data.targets import classes, label_problem, to_target
from zoo.errors import UsageError
from zoo.formatting import blank
from zoo.landmarks import parse_points, to_unit
from zoo.progress import task
from zoo.targets import SCALES, TARGETS
from zoo.trained import ExtraTarget, SplitOutputs

if TYPE_CHECKING:
    import torch

    from zoo.data.loader import CropBatches

REQUIRED = ("sample_id", "image", "patient_id")
MISSING = "label missing"  # label_problem's reason for a sample without a label
SHOWN_PROBLEMS = 20


@dataclass
class Prepared:
    """The samples a run uses, aligned row by row with their decoded pixels.

    `table` holds the dataset's columns plus `label` (number on `scale`), `target` (number on the
    recipe's target), `cls` (class for stratification and imbalance), `split`, and `pixel_row`
    (the sample's row in `pixels`, the decoded cache; skipped samples keep their rows there).
    A landmarks target has no number per sample: its `label` is the JSON text of the points,
    `width` and `height` give the image's size, and `points` holds the targets.
    """

    table: pd.DataFrame
    pixels: np.ndarray
    scale: str
    target: str
    problems: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    points: np.ndarray | None = None  # landmarks: (N, K, 2) unit coordinates of the padded square (zoo.landmarks)
    extra_scales: dict[str, str] = field(default_factory=dict)  # each extra target's label scale, by target

    def extra_targets(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Each extra target's labels of table rows `rows`, NaN where a sample has none."""
        return {target: self.table[f"target_{target}"].to_numpy(float)[rows] for target in self.extra_scales}

    def training_targets(self, rows: np.ndarray) -> np.ndarray:
        """What the loss reads: `targets`, or for a multi-target run a (n, T) matrix of every
        target's labels (the main target's first, NaN where an extra one is missing)."""
        main = self.targets(rows)
        if not self.extra_scales:
            return main
        return np.column_stack([main, *self.extra_targets(rows).values()])

    def rows(self, split: str) -> np.ndarray:
        """Row positions of one split."""
        return np.flatnonzero(self.table["split"].to_numpy() == split)

    def targets(self, rows: np.ndarray) -> np.ndarray:
        """The targets of table rows `rows`: (n,) numbers, or (n, K, 2) points."""
        targets: np.ndarray = self.points[rows] if self.points is not None else self.table["target"].to_numpy()[rows]
        return targets

    def crops(self, rows: np.ndarray) -> CropBatches:
        """The decoded crops of table rows `rows` with their targets, as a dataset of batches."""
        from zoo.data.loader import CropBatches  # torch: `zoo data check` does without

        return CropBatches(self.pixels, self.table["pixel_row"].to_numpy()[rows], self.training_targets(rows))

    def split_outputs(self, split: str, outputs: torch.Tensor) -> SplitOutputs:
        """A split's samples, targets (float64, as prepared) and extra targets, with a model's raw
        outputs on them: what judging reads of a split."""
        rows = self.rows(split)
        return SplitOutputs(
            samples=self.table.iloc[rows].reset_index(drop=True),
            targets=self.targets(rows).astype(float),
            outputs=outputs,
            extra_targets=self.extra_targets(rows),
        )

    def splits_as(self, saved: pd.DataFrame) -> bool:
        """Whether the samples split exactly as a run's saved split (`RunFolder.read_split`)."""
        current = self.table[["sample_id", "split"]].astype(str).reset_index(drop=True)
        return len(saved) == len(current) and all(saved[c].equals(current[c]) for c in ("sample_id", "split"))

    def judged_extra_targets(self) -> dict[str, ExtraTarget]:
        """What judging needs of each extra target: its scale, its labelled samples' fingerprint and
        the training split's labels."""
        train = self.extra_targets(self.rows("train"))
        return {
            name: ExtraTarget(scale, self.fingerprint(name), train[name]) for name, scale in self.extra_scales.items()
        }

    def fingerprint(self, target: str | None = None) -> str:
        """sha256 of the samples' ids, patients and labels, in a fixed order: the labels the main
        target is learned from, or those of extra target `target`.

        Two runs share it exactly when they saw the same labelled samples, whatever the dataset's
        name or params: the leaderboard compares runs only within one fingerprint (a multi-target
        run's extra target with the single-target runs of that target on the same data).
        """
        scale, label = (self.scale, "label") if target is None else (self.extra_scales[target], f"label_{target}")
        table = self.table[["sample_id", "patient_id", label]].rename(columns={label: "label"})
        if target is not None:  # as a run of that target would see them: its labelled samples
            table = table[np.isfinite(table["label"].to_numpy(float))]
        columns = ["sample_id", "patient_id", "label"]
        table = table.astype(str).sort_values(columns)
        text = f"{scale}\n" + table.to_csv(index=False)
        return hashlib.sha256(text.encode()).hexdigest()


def label_scale(table: pd.DataFrame, dataset: str, target: str) -> str:
    """Which of the dataset's label columns the target is learned from: the column of the target's
    own scale where the dataset gives it, else the one column whose scale reaches the target (a
    dataset may give several: erosion and joint-space narrowing)."""
    present = [scale for scale in SCALES if scale in table.columns]
    if not present:
        raise UsageError(
            f"dataset '{dataset}' gave no label column of {', '.join(SCALES)}",
            hint="training needs labels: check the dataset's label column param (docs/data.md)",
        )
    if target in present:
        return target
    reaching = [scale for scale in present if target in TARGETS[scale].reachable]
    if not reaching:
        raise UsageError(
            f"dataset '{dataset}' gives {', '.join(present)} labels, none of which can become target '{target}'",
            hint=f"targets reachable: {', '.join(sorted({t for s in present for t in TARGETS[s].reachable}))}",
        )
    if len(reaching) > 1:
        raise UsageError(
            f"dataset '{dataset}' gives {', '.join(reaching)} labels, each of which can become target '{target}'",
            hint=f"let the dataset give one of them, or give the {target} labels themselves",
        )
    return reaching[0]


def _problem_rows(
    table: pd.DataFrame,
    scale: str,
    decoded: DecodedImages,
    landmarks: list[str] | None,
    extra_scales: dict[str, str],
) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []

    def add(position: int, kind: str, detail: str = "") -> None:
        row = table.iloc[position]
        problems.append(
            {
                "sample_id": str(row["sample_id"]),
                "patient_id": str(row["patient_id"]),
                "problem": kind,
                "detail": detail,
                "image": str(row["image"]),
            }
        )

    for index, value in enumerate(table[scale].to_numpy()):
        if landmarks is not None:
            width, height = (int(v) for v in decoded.sizes[index])
            reason = parse_points(value, landmarks, width, height)[1]
            detail = TARGETS[scale].rule()  # a label of many points is not repeated whole
        else:
            reason = label_problem(value, scale)
            detail = f"label {value!r}; {TARGETS[scale].rule()}"
        if reason:
            add(index, reason, detail)
    for target, extra in extra_scales.items():  # a missing extra label is no problem: it is left out of the loss
        for index, value in enumerate(table[extra].to_numpy()):
            reason = label_problem(value, extra)
            if reason and reason != MISSING:
                add(index, f"{target}: {reason}", f"label {value!r}; {TARGETS[extra].rule()}")
    patients = table["patient_id"]
    for position in np.flatnonzero(patients.map(blank).to_numpy(dtype=bool)):
        add(int(position), "patient id missing", "every sample needs its patient's id (splits go by patient)")
    for position in np.flatnonzero(table["sample_id"].duplicated(keep=False).to_numpy()):
        add(int(position), "duplicate id")
    for position in np.flatnonzero(table["image"].duplicated(keep=False).to_numpy()):
        add(int(position), "duplicate image", "the same file is listed more than once")
    if "split" in table.columns:
        split = table["split"].astype(str).str.strip().str.lower()
        for position in np.flatnonzero(~split.isin(SPLITS).to_numpy()):
            add(
                int(position),
                "unknown split",
                f"split {table['split'].iloc[position]!r} (use train, val or test)",
            )
        spread = split.groupby(table["patient_id"].astype(str)).nunique()
        leaking = set(spread[spread > 1].index)
        for position in np.flatnonzero(table["patient_id"].astype(str).isin(leaking).to_numpy()):
            add(
                int(position),
                "patient leakage",
                "this patient's samples are in more than one split",
            )
    for index, reason in sorted(decoded.errors.items()):
        add(index, reason)
    return problems


def prepare(recipe: Any, registry: Any, skip_bad: bool | None = None) -> Prepared:
    """Build, check, decode and split the recipe's data.

    `skip_bad` None follows the recipe (`on_bad_sample`); problems are raised as a `UsageError`
    when not skipping, after `zoo data check` style reporting by the caller.
    """
    dataset = recipe.data.dataset
    with task(f"reading dataset '{dataset.name}'"):  # a spinner: building may write it first (the phantom)
        table = registry.get("datasets", dataset.name).build(dataset.params)
    notes = list(table.attrs.get("notes", []))
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise UsageError(
            f"dataset '{dataset.name}' gave no column(s) {', '.join(missing)}",
            hint="training needs an image and a patient id per sample: check the dataset's params (docs/data.md)",
        )
    target = recipe.data.target
    scale = label_scale(table, dataset.name, target)
    extra_scales = {extra: label_scale(table, dataset.name, extra) for extra in recipe.extra_targets}
    table = table.reset_index(drop=True)
    table["sample_id"] = table["sample_id"].astype(str)
    decoded = decode(table["image"].astype(str).tolist(), recipe.data.image_size, recipe.data.equalize)
    problems = pd.DataFrame(
        _problem_rows(table, scale, decoded, recipe.data.landmarks if TARGETS[scale].points else None, extra_scales),
        columns=["sample_id", "patient_id", "problem", "detail", "image"],
    )
    skip = recipe.data.on_bad_sample == "skip" if skip_bad is None else skip_bad
    bad = table["sample_id"].isin(problems["sample_id"]).to_numpy() if len(problems) else np.zeros(len(table), bool)
    if len(problems) and not skip:
        raise DataProblems(problems, notes)
    table["pixel_row"] = np.arange(len(table))
    table = table[~bad].reset_index(drop=True)
    if table.empty:
        if len(problems):  # every sample is bad: say what is wrong with them, not just that
            raise DataProblems(problems, notes, every=True)
        raise UsageError(f"dataset '{dataset.name}' has no samples", hint="check the dataset's params (docs/data.md)")
    points = None
    if TARGETS[scale].points:
        table["label"] = table[scale].astype(str)
        table["width"], table["height"] = decoded.sizes[table["pixel_row"].to_numpy()].T
        sizes = table[["width", "height"]].to_numpy()
        pixels = [parse_points(v, recipe.data.landmarks, 0, 0)[0] for v in table["label"]]
        points = to_unit(np.stack([p for p in pixels if p is not None]), sizes)
        table["cls"] = 0
    else:
        table["label"] = table[scale].astype(str).str.strip().astype(float)
        table["target"] = to_target(table["label"].to_numpy(), scale, target)
        table["cls"] = classes(table["label"].to_numpy(), scale)
    for extra, extra_scale in extra_scales.items():
        labels = pd.to_numeric(table[extra_scale].astype(str).str.strip(), errors="coerce").to_numpy(float)
        known = np.isfinite(labels)
        table[f"label_{extra}"] = labels
        table[f"target_{extra}"] = np.nan
        table.loc[known, f"target_{extra}"] = to_target(labels[known], extra_scale, extra)
        if not known.all():
            first = ", ".join(table["sample_id"][~known].head(3))
            notes.append(
                f"{int((~known).sum())} of {len(table)} samples have no {extra} label (first: {first}): "
                f"they are left out of the {extra} loss and metrics"
            )
    if "split" in table.columns:
        table["split"] = table["split"].astype(str).str.strip().str.lower()
    else:
        config = recipe.data.split
        if config.group_by not in table.columns:
            raise UsageError(
                f"data.split.group_by: dataset '{dataset.name}' has no column '{config.group_by}'",
                hint=f"columns: {', '.join(map(str, table.columns))}",
            )
        fractions = {"train": config.train, "val": config.val, "test": config.test}
        seed = recipe.seed if config.seed is None else config.seed
        groups, strata = table[config.group_by], table["cls"].to_numpy()
        table["split"] = split_patients(groups, strata, fractions, seed, config.stratify)
    return Prepared(
        table=table,
        pixels=decoded.pixels,
        scale=scale,
        target=target,
        problems=problems,
        notes=notes,
        points=points,
        extra_scales=extra_scales,
    )


class DataProblems(UsageError):
    """Bad samples found before training; `problems` is the whole table."""

    def __init__(self, problems: pd.DataFrame, notes: list[str], every: bool = False) -> None:
        count = problems["sample_id"].nunique()
        super().__init__(
            f"{len(problems)} problem(s) in {count} sample(s)" + ("; no sample is usable" if every else ""),
            hint="fix them, or set data.on_bad_sample: skip to leave those samples out "
            "(they are listed in the run folder)"
            if not every
            else "fix them ('zoo data check RECIPE' lists every one); skipping bad samples would leave none",
        )
        self.problems = problems
        self.notes = notes

    def details(self) -> list[str]:
        """The first problems, one per line."""
        lines = [
            f"{r.sample_id!s}: {r.problem!s}" + (f" ({r.detail!s})" if r.detail else "")
            for r in self.problems.head(SHOWN_PROBLEMS).itertuples()
        ]
        if len(self.problems) > SHOWN_PROBLEMS:
            lines.append(f"... and {len(self.problems) - SHOWN_PROBLEMS} more ('zoo data check RECIPE' lists all)")
        return lines
