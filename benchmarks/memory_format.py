"""channels_last against the default (contiguous) memory format, for a training step on this machine.

The trainer puts models and batches in channels_last on every device. This script checks that
choice: training images/s (forward, backward, Adam) of the quickstart's and the thesis's
backbones in both formats, alternating rounds so that noise hits both.

Usage: python benchmarks/memory_format.py [--size 64] [--batch 64] [--rounds 4] [--steps 4] [--quick]
`--quick`: 64 px (thesis_vgg's smallest), batch 4, 1 round of 1 step (a smoke test, not a measurement).
"""

from __future__ import annotations

import argparse
import statistics
from types import SimpleNamespace

import torch
from common import arguments, machine, train_speed

from zoo.compose.plugins import get_registry
from zoo.training.model import build_model

BACKBONES = {
    "thesis_vgg": {},
    "tf_efficientnet_lite0": {"pretrained": False},
}


def main() -> None:
    """Print images/s per backbone and format, and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    args = arguments(parser, batch=4, rounds=1, steps=1)
    registry = get_registry()
    print(f"machine: {machine()}")
    print(f"{args.size} px, batch {args.batch}, softmax head, {args.rounds} rounds of {args.steps} steps, alternating")
    print("| backbone | contiguous images/s | channels_last images/s | ratio |")
    print("|---|---|---|---|")
    for name, params in BACKBONES.items():
        torch.manual_seed(0)
        backbone = SimpleNamespace(name=name, params=params)
        head = SimpleNamespace(name="softmax", params={"hidden": [128]})
        plain = build_model(registry, backbone, head, "stage")
        last = build_model(registry, backbone, head, "stage").to(memory_format=torch.channels_last)
        x = torch.rand(args.batch, 1, args.size, args.size)
        x_last = x.contiguous(memory_format=torch.channels_last)
        plain_speed, last_speed = [], []
        for _ in range(args.rounds):
            plain_speed.append(train_speed(plain, x, args.steps))
            last_speed.append(train_speed(last, x_last, args.steps))
        a, b = statistics.median(plain_speed), statistics.median(last_speed)
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
