"""Checks of a recipe against its prepared data and built parts, before any training starts.

Validation (`zoo.compose.recipe`) checks what the recipe says; these check what it meets: splits
that can train, stop early, choose an operating point and be judged, and an early-stopping value
that is measured.
"""

from __future__ import annotations

import numpy as np

from zoo.compose.recipe import Recipe
from zoo.data.prepare import Prepared
from zoo.errors import UsageError
from zoo.protocols import Metric


def check_splits(recipe: Recipe, prepared: Prepared) -> list[str]:
    """Refuse data whose splits cannot train, stop early or choose an operating point; return the
    evaluated splits that have no patients (they are not judged; all of them empty is an error)."""
    rows = {split: prepared.rows(split) for split in ("train", "val", "test")}
    if len(rows["train"]) == 0:
        raise UsageError("the training split is empty", hint="use more patients or change data.split")
    if recipe.train.early_stopping is not None and len(rows["val"]) == 0:
        raise UsageError(
            "train.early_stopping needs a validation split, but it has no patients",
            hint="use more patients, raise data.split.val, or remove train.early_stopping",
        )
    if recipe.eval.calibrate is not None and len(rows["val"]) == 0:
        raise UsageError(
            "eval.calibrate fits its temperature on the validation split, but it has no patients",
            hint="use more patients, raise data.split.val, or remove eval.calibrate",
        )
    if recipe.eval.threshold_on_validation and len(np.unique(prepared.table["target"].to_numpy()[rows["val"]])) < 2:
        raise UsageError(
            "eval.threshold is chosen on the validation split, but it lacks patients of both classes",
            hint="use more patients, raise data.split.val, or give a fixed threshold",
        )
    empty: list[str] = [split for split in recipe.eval.splits if len(rows[split]) == 0]
    if empty == list(recipe.eval.splits):
        raise UsageError(
            f"eval.splits: {' and '.join(empty)} have no patients, so the run could not be judged",
            hint="use more patients, change data.split, or evaluate a split that has patients",
        )
    return empty


def early_stopping_monitor(
    recipe: Recipe, metrics: dict[str, Metric], extra_metrics: dict[str, dict[str, Metric]] | None = None
) -> tuple[str | None, str]:
    """The validation value early stopping watches and whether lower (`min`) or higher (`max`) is
    better; (None, "min") without early stopping. A value that is not measured is an error. An
    extra target's metrics are `val_<target>_<metric>`."""
    stopping = recipe.train.early_stopping
    if stopping is None:
        return None, "min"
    metrics = {**metrics, **{f"{t}_{n}": m for t, named in (extra_metrics or {}).items() for n, m in named.items()}}
    available = ["val_loss", *[f"val_{name}" for name in metrics]]
    if stopping.monitor not in available:
        raise UsageError(
            f"train.early_stopping.monitor: '{stopping.monitor}' is not measured for this recipe",
            hint=f"choose one of: {', '.join(available)}",
        )
    if stopping.mode != "auto":
        return stopping.monitor, stopping.mode
    if stopping.monitor == "val_loss":
        return stopping.monitor, "min"
    metric = metrics[stopping.monitor.removeprefix("val_")]
    return stopping.monitor, "max" if metric.higher_is_better else "min"
