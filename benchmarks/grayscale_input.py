"""Gray crops into RGB ImageNet weights: repeat to 3 channels, or fold the stem to 1 channel?

Both give the same network output when the weights' normalisation is equal for all channels
(EfficientNet-Lite and InceptionV3 use [-1, 1]); folding sums the stem's RGB filters into one
(timm's `adapt_input_conv`) and so reads a third of the input. This script measures, in one run,
alternating the two: training images/s (forward, backward, Adam) of each, and the largest output
difference between them on the same crops.

Usage: python benchmarks/grayscale_input.py [--model tf_efficientnet_lite0] [--size 64] [--batch 64] [--rounds 5]
       [--steps 5] [--quick]
`--quick`: 32 px, batch 4, 1 round of 1 step (a smoke test, not a measurement).
"""

from __future__ import annotations

import argparse
import statistics

import timm
import torch
from common import arguments, machine, train_speed
from timm.models import adapt_input_conv


def main() -> None:
    """Print images/s of both ways and their output difference."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = arguments(parser, size=32, batch=4, rounds=1, steps=1)
    torch.manual_seed(0)
    rgb = timm.create_model(args.model, num_classes=6)
    gray = timm.create_model(args.model, num_classes=6, in_chans=1)
    state = rgb.state_dict()
    stem = f"{rgb.pretrained_cfg['first_conv']}.weight"
    state[stem] = adapt_input_conv(1, state[stem])
    gray.load_state_dict(state)
    crops = torch.rand(args.batch, 1, args.size, args.size)
    with torch.no_grad():
        difference = (rgb.eval()(crops.expand(-1, 3, -1, -1)) - gray.eval()(crops)).abs().max().item()
    repeat_speed, fold_speed = [], []
    for _ in range(args.rounds):
        repeat_speed.append(train_speed(rgb, crops.expand(-1, 3, -1, -1).contiguous(), args.steps))
        fold_speed.append(train_speed(gray, crops, args.steps))
    repeat, fold = statistics.median(repeat_speed), statistics.median(fold_speed)
    print(f"machine: {machine()}")
    print(f"{args.model}, {args.size} px, batch {args.batch}, {args.rounds} rounds of {args.steps} steps, alternating")
    print("| input | training images/s (median) |")
    print("|---|---|")
    print(f"| repeat gray to 3 channels | {repeat:.1f} |")
    print(f"| fold stem to 1 channel | {fold:.1f} |")
    print(f"fold / repeat = {fold / repeat:.3f}; largest output difference {difference:.2e}")


if __name__ == "__main__":
    main()
