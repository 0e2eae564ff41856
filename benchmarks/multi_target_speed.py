"""What a second head costs at inference: a stage + JSN model against the stage-only model with
the same backbone, one forward pass per batch, in the same run.

Usage: python benchmarks/multi_target_speed.py [--size 96] [--batch 64] [--repeat 15] [--quick]
Prints a markdown table for docs/benchmarks.md. The two models (EfficientNet-Lite0, CORAL heads
of [128, 64] as in recipes/svdh/) are built through the zoo's registry and run interleaved (each
round times every model once), so that the machine's noise hits them alike; each row is the
median of the rounds. The target (#30): the multi-target model at most 1.1x the single-target
model's time per batch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import torch
from common import arguments, machine

from zoo.compose.plugins import get_registry
from zoo.training.model import ZooModel, build_model

HEAD = SimpleNamespace(name="coral", params={"hidden": [128, 64], "dropout": 0.3})


def models(backbone: str) -> dict[str, ZooModel]:
    """The stage-only model and the stage + JSN model, on the same backbone."""
    registry = get_registry()
    chosen = SimpleNamespace(name=backbone, params={"pretrained": False})
    torch.manual_seed(0)
    single = build_model(registry, chosen, HEAD, "stage")
    torch.manual_seed(0)
    multi = build_model(registry, chosen, HEAD, "stage", extra_heads={"svdh_jsn": HEAD})
    return {"stage (single target)": single, "stage + svdh_jsn (multi-target)": multi}


def seconds_per_batch(model: ZooModel, x: torch.Tensor) -> float:
    """One forward pass and every target's prediction step, as `zoo predict` runs them."""
    start = time.perf_counter()
    with torch.inference_mode():
        outputs = model(x)
        for target in model.targets:
            model.predict_target(outputs, target)
    return time.perf_counter() - start


def main() -> None:
    """Time both models and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    args = arguments(parser, size=32, batch=4, repeat=2)
    built = {name: m.eval().to(memory_format=torch.channels_last) for name, m in models(args.backbone).items()}
    x = torch.rand(args.batch, 1, args.size, args.size).contiguous(memory_format=torch.channels_last)
    for model in built.values():  # warm-up
        seconds_per_batch(model, x)
    times: dict[str, list[float]] = {name: [] for name in built}
    for _ in range(args.repeat):
        for name, model in built.items():
            times[name].append(seconds_per_batch(model, x))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["stage (single target)"]
    print(f"machine: {machine()}; {args.backbone}, batch {args.batch} of {args.size} px, {args.repeat} rounds")
    print()
    print("| model | s per batch (median) | images/s | x single-target |")
    print("|---|---:|---:|---:|")
    for name, value in medians.items():
        print(f"| {name} | {value:.4f} | {args.batch / value:.1f} | {value / baseline:.3f} |")


if __name__ == "__main__":
    main()
