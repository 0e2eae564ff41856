"""Is the data ever the bottleneck? Decoding (cold and warm) and batch delivery against training.

Measures, on 128 px phantom crops: decoding every file into the cache (cold), opening the warm
cache (hashing the files), delivering training batches from the warm cache with and without the
thesis augmentation, and one thesis_vgg training step on a batch of the same size. The loader
must deliver batches at least 10x faster than the step consumes them.

Usage: python benchmarks/loader_speed.py [--patients N] [--batch B] [--quick]
`--quick`: 4 patients, batch 8 (a smoke test, not a measurement).
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import arguments, bench_recipe, machine

from zoo.compose.recipe import AugmentConfig
from zoo.data.augment import BatchAugment
from zoo.data.cache import decode
from zoo.data.loader import CropBatches, batches, unit_floats
from zoo.training.model import build_model, make_augment


def delivery(dataset: CropBatches, batch: int, augment: BatchAugment | None = None) -> float:
    """Images/s of one pass over the dataset in shuffled batches (augmented as the trainer does)."""
    rng = torch.Generator().manual_seed(0)
    start, seen = time.perf_counter(), 0
    for images, _, _, _ in batches(dataset, batch, shuffle=True):
        if augment is not None:
            augment(images, rng)  # the trainer hands its uint8 batch over
        else:
            unit_floats(images)
        seen += len(images)
    return seen / (time.perf_counter() - start)


def main() -> None:
    """Print the table for docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100)
    args = arguments(parser, patients=4, batch=8)
    recipe, registry, prepared = bench_recipe(args.patients, 128, args.batch)
    paths = prepared.table["image"].tolist()
    shutil.rmtree(decode(paths, 128).folder)
    start = time.perf_counter()
    decode(paths, 128)
    cold = len(paths) / (time.perf_counter() - start)
    start = time.perf_counter()
    decoded = decode(paths, 128)
    warm_open = time.perf_counter() - start
    rows = prepared.table["pixel_row"].to_numpy()
    targets = prepared.table["target"].to_numpy()
    plain = delivery(CropBatches(decoded.pixels, rows, targets), args.batch)
    augmented = delivery(CropBatches(decoded.pixels, rows, targets), args.batch, make_augment(AugmentConfig()))
    torch.manual_seed(0)
    model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.from_numpy(np.array(decoded.pixels[: args.batch])).unsqueeze(1).float() / 255.0
    y = torch.zeros(args.batch, dtype=torch.long)
    steps = []
    for _ in range(4):
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps.append(time.perf_counter() - start)
    step = args.batch / float(np.median(steps[1:]))
    print(f"machine: {machine()}")
    print(f"{len(paths)} phantom crops of 128 px (JPEG), batch {args.batch}")
    print("| what | images/s | x training step |")
    print("|---|---|---|")
    print(f"| decode into the cache (cold) | {cold:.0f} | |")
    print(f"| open the warm cache (hash every file) | {len(paths) / warm_open:.0f} | |")
    print(f"| batches from the warm cache | {plain:.0f} | {plain / step:.1f} |")
    print(f"| batches with thesis augmentation | {augmented:.0f} | {augmented / step:.1f} |")
    print(f"| thesis_vgg training step (forward, backward, Adam) | {step:.0f} | 1.0 |")


if __name__ == "__main__":
    main()
