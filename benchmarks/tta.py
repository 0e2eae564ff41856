"""What test-time augmentation gains and costs: a finished run's test split scored with its
model as it is, and averaged over flips (and rotations), in the same run.

Usage: python benchmarks/tta.py --run RUN_DIR [--quick]
Prints a markdown table for docs/benchmarks.md: each set of transforms, the test split's
class-normalised accuracy and kappa (no intervals: `zoo run` with `eval.tta` gives those), the
seconds to score the split and the ratio to the plain model. Without --run (or with --quick) an
untrained model on a small phantom stands in: the cost is measured, the scores mean nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from common import arguments, bench_recipe, machine

from zoo.compose.metrics import build_metrics
from zoo.compose.plugins import get_registry
from zoo.compose.recipe import load_run_recipe
from zoo.data.loader import to_model_input
from zoo.data.prepare import prepare
from zoo.predictions import to_predictions
from zoo.runs import RunFolder
from zoo.training.model import ZooModel, build_model, load

SETS = {"none": ("identity",), "flip": ("identity", "flip"), "flip + rot180": ("identity", "flip", "rot180")}
SHOWN = ("class_normalised_accuracy", "quadratic_weighted_kappa")


def main() -> None:
    """Score the test split with each set of transforms and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=256)
    args = arguments(parser, batch=32)
    registry = get_registry()
    if args.run is not None and not args.quick:
        model, _ = load(args.run, registry)
        prepared = prepare(load_run_recipe(RunFolder(args.run), registry), registry)
        what = f"run {args.run.name}"
    else:
        recipe, registry, prepared = bench_recipe(patients=20, size=64, batch=args.batch)
        head = SimpleNamespace(name="softmax", params={"hidden": [32]})
        model = build_model(registry, recipe.model.backbone, head, "stage")
        what = "an untrained thesis_vgg (cost only)"
    model = model.eval().to(memory_format=torch.channels_last)
    rows = prepared.rows("test")
    pixels = prepared.pixels[prepared.table["pixel_row"].to_numpy()[rows]]
    targets = prepared.targets(rows)
    patients = prepared.table["patient_id"].astype(str).to_numpy()[rows]
    metrics = build_metrics(registry, "stage", {"probs"}, list(SHOWN))
    print(f"machine: {machine()}; {what}, {len(rows)} test crops")
    print()
    print("| transforms | CNA | kappa | seconds | x none |")
    print("|---|---:|---:|---:|---:|")
    baseline = None
    for name, transforms in SETS.items():
        outputs, seconds = score(model, transforms, pixels, args.batch)
        baseline = baseline or seconds
        predictions = to_predictions("stage", targets, model.predict(outputs), patients)
        values = [metrics[m](predictions) for m in SHOWN]
        print(f"| {name} | {values[0]:.4f} | {values[1]:.4f} | {seconds:.2f} | {seconds / baseline:.2f} |")


def score(model: ZooModel, transforms: tuple[str, ...], pixels: np.ndarray, batch: int) -> tuple[torch.Tensor, float]:
    """The model's raw outputs on every crop, averaged over `transforms`, and the seconds it took."""
    model.tta = transforms if len(transforms) > 1 else ()
    chunks = []
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(pixels), batch):
            images = torch.from_numpy(pixels[first : first + batch]).unsqueeze(1)
            chunks.append(model(to_model_input(images, torch.device("cpu"), channels_last=True)).float())
    return torch.cat(chunks), time.perf_counter() - start


if __name__ == "__main__":
    main()
