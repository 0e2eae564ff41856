"""Is a training step bound by the host or by the device? One bare step, timed by batch size.

The step is the trainer's without its loader: a random batch already on the device, forward
(channels_last; bf16 autocast or float32 on a GPU, float32 on the CPU), cross-entropy, backward
and Adam. When a batch of 256 takes as long as one of 100, the step's time is the host launching
kernels one by one, not the device computing them; a model compiled in torch.compile's
reduce-overhead mode (`train.compile: reduce-overhead`) then replays the step's kernels as CUDA
graphs. The last row measures that.

Without a GPU it times thesis_vgg at 64 px on the CPU, where there are no CUDA graphs, and says so.

Usage: python benchmarks/step_time.py [--backbone NAME] [--steps N] [--quick]
"""

from __future__ import annotations

import argparse
from typing import cast

import torch
from common import THESIS, arguments, bench_recipe, machine, train_speed

from zoo.training.model import build_model


def model_for(backbone: str, size: int, device: torch.device) -> torch.nn.Module:
    """The zoo's model for the backbone (softmax head, 1-channel input), channels_last on `device`."""
    recipe, registry, _ = bench_recipe(6, size, 8, backbone, device.type, True)
    torch.manual_seed(0)
    model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage")
    return model.to(device, memory_format=torch.channels_last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", help="default: inception_v3 on a GPU, thesis_vgg on the CPU")
    parser.add_argument("--steps", type=int, default=15, help="timed steps per row, after 5 warm-up steps")
    args = arguments(parser, steps=1)
    print(f"machine: {machine()}", flush=True)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        print(f"card: {torch.cuda.get_device_name(0)}", flush=True)
        backbone, device = args.backbone or "inception_v3", torch.device("cuda")
        shapes = [(100, 150), (128, 150), (256, 150), (100, 299)]
    else:
        print("no CUDA GPU: the step is timed on the CPU, without CUDA graphs", flush=True)
        backbone, device = args.backbone or "thesis_vgg", torch.device("cpu")
        shapes = [(2, 64), (4, 64)] if args.quick else [(16, 64), (64, 64)]
    print("| backbone | px | batch | AMP | compile | ms/step | img/s | x thesis |\n|---|---|---|---|---|---|---|---|")
    precisions = (True, False) if cuda else (False,)  # the trainer uses AMP on CUDA only
    rows: list[tuple[tuple[int, int], bool, str | None]] = [(s, amp, None) for amp in precisions for s in shapes]
    if cuda:
        rows.append((shapes[0], True, "reduce-overhead"))
    for shape, amp, mode in rows:
        model = model_for(backbone, shape[1], device)
        net = model if mode is None else torch.compile(model, mode=mode)
        steps, warm = (2 * args.steps, 4) if mode else (args.steps, 5)  # compiled: the first steps compile
        x = torch.rand(shape[0], 1, shape[1], shape[1], device=device).contiguous(memory_format=torch.channels_last)
        speed = train_speed(cast(torch.nn.Module, net), x, steps, warm, amp)
        seconds = shape[0] / speed
        thesis = f"{speed / THESIS[backbone]:.1f}x" if backbone in THESIS else "-"
        precision = "bf16" if amp else "off"
        print(f"| {backbone} | {shape[1]} | {shape[0]} | {precision} | {mode or 'off'} | {seconds * 1e3:.1f} "
              f"| {speed:.0f} | {thesis} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
