"""Augmentation: the batched device path against the per-sample path it replaced, and its cost in
a training step.

- Per-sample (the zoo's path before): torchvision's RandomAffine on each uint8 image of a batch,
  one call per image, then the float conversion. Kept here only as the baseline.
- Batched (the trainer now): the uint8 batch warped as a whole with per-sample draws
  (zoo.data.augment.BatchAugment), on the CPU `CPU_CHUNK` images at a time, each chunk scaled to
  floats just before its warp; and its parts: the sampling grids (torch's affine_grid
  against the zoo's two multiply-adds) and grid_sample alone, on the CPU `CPU_CHUNK` images at a time.
- In training: thesis_vgg training steps (forward, backward, Adam) with and without the batched
  augmentation of each batch, in the same run.

Usage: python benchmarks/augment_speed.py [--size 128] [--batch 100] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from common import arguments, machine, median_seconds
from torchvision.transforms import v2

from zoo.compose.plugins import get_registry
from zoo.compose.recipe import ComponentRef
from zoo.data.augment import CPU_CHUNK, BatchAugment, sampling_grid
from zoo.data.loader import unit_floats
from zoo.training.model import build_model


def per_sample(images: torch.Tensor) -> torch.Tensor:
    """The replaced path: one RandomAffine call per uint8 image, then floats in [0, 1]."""
    transform = v2.RandomAffine(
        degrees=25.0, shear=math.degrees(0.1), scale=(0.9, 1.1), interpolation=v2.InterpolationMode.BILINEAR, fill=0
    )
    return unit_floats(torch.stack([transform(image) for image in images]))


def batched(images: torch.Tensor, augment: BatchAugment, rng: torch.Generator) -> torch.Tensor:
    """The trainer's path: the uint8 batch handed over, scaled to [0, 1] as it is warped."""
    return augment(images, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = arguments(parser, size=64, batch=8, repeats=1)  # thesis_vgg needs 64 px
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 1, args.size, args.size), dtype=torch.uint8)
    augment, rng = BatchAugment(), torch.Generator().manual_seed(0)
    old = args.batch / median_seconds(lambda: per_sample(images), args.repeats)
    new = args.batch / median_seconds(lambda: batched(images, augment, rng), args.repeats)

    theta = augment.matrices(augment.draw(args.batch, rng))
    shape = [args.batch, 1, args.size, args.size]
    torch_grids = args.batch / median_seconds(lambda: F.affine_grid(theta, shape, align_corners=False), args.repeats)
    zoo_grids = args.batch / median_seconds(lambda: sampling_grid(theta, args.size, args.size), args.repeats)
    x, grid = unit_floats(images), sampling_grid(theta, args.size, args.size)

    def sample_only() -> None:
        for begin in range(0, args.batch, CPU_CHUNK):
            F.grid_sample(x[begin : begin + CPU_CHUNK], grid[begin : begin + CPU_CHUNK], align_corners=False)

    sampled = args.batch / median_seconds(sample_only, args.repeats)

    model = build_model(get_registry(), ComponentRef(name="thesis_vgg"), ComponentRef(name="softmax"), "stage")
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    y = torch.zeros(args.batch, dtype=torch.long)

    def train_step(with_augment: bool) -> None:
        x = augment(images, rng) if with_augment else unit_floats(images)
        loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    plain = args.batch / median_seconds(lambda: train_step(False), args.repeats)
    augmented = args.batch / median_seconds(lambda: train_step(True), args.repeats)
    print(f"machine: {machine()}")
    print(f"{args.batch} images of {args.size} px per batch; median of {args.repeats} batches")
    print("| what | images/s | ratio |")
    print("|---|---|---|")
    print(f"| augmentation, per sample (replaced) | {old:.0f} | 1.0 |")
    print(f"| augmentation, batched (the trainer's) | {new:.0f} | {new / old:.1f}x |")
    print(f"| part: sampling grids, torch's affine_grid | {torch_grids:.0f} | |")
    print(f"| part: sampling grids, the zoo's multiply-adds | {zoo_grids:.0f} | {zoo_grids / torch_grids:.1f}x |")
    print(f"| part: grid_sample alone, {CPU_CHUNK} at a time | {sampled:.0f} | {sampled / old:.1f}x per sample |")
    print(f"| thesis_vgg training step, no augmentation | {plain:.0f} | 1.0 |")
    print(f"| thesis_vgg training step, batched augmentation | {augmented:.0f} | {augmented / plain:.3f} |")


if __name__ == "__main__":
    main()
