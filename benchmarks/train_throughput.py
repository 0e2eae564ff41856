"""Training throughput of the zoo's trainer against a plain hand-written PyTorch loop.

Same model (a backbone + softmax), same data (the phantom's training split, decoded once), same
batch size, optimiser, loss, precision and memory format (channels_last, which the trainer uses
on every device), alternating the two (plain, zoo, plain, zoo, ...) so that noise hits both. The
zoo's epoch is the code `zoo run` runs (`Trainer.train_epoch`).

Usage: python benchmarks/train_throughput.py [--patients N] [--size PX] [--batch B] [--rounds R]
       [--backbone NAME] [--device cpu|cuda] [--amp on|off] [--quick]
`--quick`: 6 patients, batch 16, 1 epoch of each loop (a smoke test, not a measurement).
On a GPU (the issue's benchmark): --backbone inception_v3 --size 299 --device cuda --amp on, then off.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from common import arguments, bench_recipe, machine, plain_epoch

from zoo.progress import EpochProgress
from zoo.runs import RunFolder
from zoo.training.device import Distributed, set_up
from zoo.training.model import build_model, build_optimizer, build_parts
from zoo.training.trainer import Trainer


def main() -> None:
    """Alternate plain and zoo epochs; print images/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backbone", default="thesis_vgg")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--amp", choices=["on", "off"], default="on")
    args = arguments(parser, patients=6, batch=16, rounds=1)
    recipe, registry, prepared = bench_recipe(
        args.patients, args.size, args.batch, args.backbone, args.device, args.amp == "on"
    )
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage")
        parts = build_parts(registry, recipe, model, prepared)
        trainer = Trainer(recipe, parts, prepared, set_up(device, Distributed(), recipe.train), RunFolder(Path(tmp)))
        net = trainer.network(False)
        zoo_optimizer = build_optimizer(trainer.model, recipe.train.optimizer, 1e-3)
        torch.manual_seed(0)
        plain_model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage")
        plain_model = plain_model.to(device, memory_format=torch.channels_last)
        plain_optimizer = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
        rows = prepared.table["pixel_row"].to_numpy()[trainer.rows["train"]]
        targets = prepared.table["target"].to_numpy()[trainer.rows["train"]]
        quiet = EpochProgress(enabled=False)
        plain_speed, zoo_speed = [], []
        for round_ in range(args.rounds):
            plain_speed.append(
                plain_epoch(
                    plain_model,
                    plain_optimizer,
                    prepared.pixels,
                    rows,
                    targets,
                    batch=args.batch,
                    seed=round_,
                    device=device,
                    amp_dtype=trainer.amp_dtype,
                )
            )
            trainer.sampler.epoch = round_
            zoo_speed.append(trainer.train_epoch(net, zoo_optimizer, quiet, "bench")[1])
    plain, zoo = statistics.median(plain_speed), statistics.median(zoo_speed)
    print(f"machine: {machine()}")
    print(
        f"{args.backbone} + softmax, {len(rows)} training crops of {args.size} px, batch {args.batch}, "
        f"{args.rounds} epochs each, alternating, device {device}, amp {trainer.amp_dtype}"
    )
    print("| loop | images/s (median) | each epoch |")
    print("|---|---|---|")
    print(f"| plain PyTorch | {plain:.1f} | {', '.join(f'{s:.1f}' for s in plain_speed)} |")
    print(f"| zoo trainer | {zoo:.1f} | {', '.join(f'{s:.1f}' for s in zoo_speed)} |")
    print(f"zoo / plain = {zoo / plain:.3f}")


if __name__ == "__main__":
    main()
