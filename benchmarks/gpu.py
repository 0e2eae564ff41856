"""All GPU checks in one run, one table: the zoo trainer against a plain loop, per model and setting.

First a line on augmentation: the per-sample host path the trainer replaced against the batched
device path, at 128 px. Then, for each model (thesis_vgg 150 px, inception_v3 150 and 299 px,
resnet50 150 px, tf_efficientnet_lite0 224 px) and setting (AMP bf16 on/off, torch.compile off, in
its default mode, or in reduce-overhead mode, whose CUDA graphs launch a step's kernels at once;
channels_last and the batched device augmentation always on, as the trainer runs): images/s of a
plain hand-written loop and of the zoo's `Trainer.train_epoch` in the same run, their ratio, the
ratio to the thesis's Titan X Pascal (485 crops/s VGG, 367 InceptionV3), the model FLOP utilisation
against the card's peak, and the share of the zoo's epoch spent waiting for the loader. Rows run
in order of importance, and those that would start after `--budget` seconds are listed as skipped,
so that the script fits one call of a lent GPU. With two or more cards, a
`torchrun --nproc-per-node 2` line follows.

Without a GPU it runs the same measurement for thesis_vgg at 64 px on the CPU and says that the
GPU part was skipped.

Usage: python benchmarks/gpu.py [--patients N] [--rounds R] [--only NAME] [--amp on|off]
                                [--compile on|off|default|reduce-overhead] [--budget SECONDS]
                                [--quick]

`--only`, `--amp` and `--compile` keep the rows that match, to measure in a later call what an
earlier one left as skipped (for instance `--amp off`, or `--compile on`).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from augment_speed import batched, per_sample
from common import THESIS, arguments, bench_recipe, machine, median_seconds, plain_epoch
from torch.utils.flop_counter import FlopCounterMode

from zoo.compose.recipe import AugmentConfig
from zoo.data.augment import BatchAugment
from zoo.progress import EpochProgress
from zoo.runs import RunFolder
from zoo.training.device import Distributed, set_up
from zoo.training.model import build_model, build_optimizer, build_parts, make_augment
from zoo.training.trainer import Trainer

PATIENTS = {150: 600, 224: 300, 299: 150}  # phantom patients per size: epochs of a few seconds each
GRAPHS = "reduce-overhead"  # torch.compile's mode that replays a step's kernels as CUDA graphs
# (backbone, px, batch, AMP, compile mode or None), most important first; a compiled row compiles
# both loops (InceptionV3 about two minutes each on an H100): `--compile reduce-overhead` runs it alone
GPU_ROWS = [
    ("inception_v3", 150, 100, True, None), ("thesis_vgg", 150, 100, True, None),
    ("inception_v3", 150, 256, True, None), ("resnet50", 150, 100, True, None),
    ("tf_efficientnet_lite0", 224, 100, True, None), ("inception_v3", 299, 100, True, None),
    ("inception_v3", 150, 100, True, GRAPHS), ("thesis_vgg", 150, 100, False, None),
    ("inception_v3", 150, 100, False, None), ("resnet50", 150, 100, False, None),
    ("tf_efficientnet_lite0", 224, 100, False, None), ("inception_v3", 299, 100, False, None),
    ("thesis_vgg", 150, 100, True, "default"), ("inception_v3", 150, 100, True, "default"),
]  # fmt: skip
PEAKS = {  # dense tensor-core TFLOP/s: (bf16, tf32)
    "H200": (989.0, 494.0),
    "H100 PCIe": (756.0, 378.0),
    "H100": (989.0, 494.0),
    "A100": (312.0, 156.0),
    "L4": (121.0, 60.0),
}


@dataclass
class Row:
    """One measured model and setting."""

    backbone: str
    size: int
    batch: int
    amp: bool
    compiled: str | None
    plain: float
    zoo: float
    wait: float
    flops: float  # per image, forward and backward


def peak(name: str, amp: bool) -> float | None:
    """The card's dense peak in FLOP/s for the precision, when the card is known."""
    for card, (bf16, tf32) in PEAKS.items():
        if card in name:
            return (bf16 if amp else tf32) * 1e12
    return None


def step_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """FLOPs of one forward and backward pass per image."""
    counter = FlopCounterMode(display=False)
    with counter:
        model(x).float().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x)


def measure(
    backbone: str, size: int, batch: int, amp: bool, compiled: str | None, args: argparse.Namespace, device: str
) -> Row:
    """Plain loop and zoo trainer, alternating epochs, on the same data and model."""
    patients = args.patients or PATIENTS.get(size, 300)
    recipe, registry, prepared = bench_recipe(patients, size, batch, backbone, device, amp)
    recipe = recipe.model_copy(update={
        "data": recipe.data.model_copy(update={"augment": AugmentConfig()}),
        "train": recipe.train.model_copy(update={"compile": compiled or False}),
    })  # fmt: skip
    dev = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage")
        parts = build_parts(registry, recipe, model, prepared)
        trainer = Trainer(recipe, parts, prepared, set_up(dev, Distributed(), recipe.train), RunFolder(Path(tmp)))
        net, optimizer = trainer.network(False), build_optimizer(trainer.model, recipe.train.optimizer, 1e-4)
        torch.manual_seed(0)
        plain_model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage")
        plain_model = plain_model.to(dev, memory_format=torch.channels_last)
        plain_net = torch.compile(plain_model, mode=compiled) if compiled else plain_model
        plain_optimizer = torch.optim.Adam(plain_model.parameters(), lr=1e-4)
        rows = prepared.table["pixel_row"].to_numpy()[trainer.rows["train"]]
        targets = prepared.table["target"].to_numpy()[trainer.rows["train"]]
        x = torch.rand(min(batch, 8), 1, size, size, device=dev).contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=trainer.amp_dtype, enabled=trainer.amp_dtype is not None):
            flops = step_flops(plain_model, x)
        plain, zoo, waits = [], [], []
        plain_augment = make_augment(AugmentConfig())
        for round_ in range(args.rounds + 1):  # the first round warms up (and compiles)
            speed = plain_epoch(
                plain_net,
                plain_optimizer,
                prepared.pixels,
                rows,
                targets,
                batch=batch,
                seed=round_,
                device=dev,
                amp_dtype=trainer.amp_dtype,
                augment=plain_augment,
            )
            trainer.sampler.epoch = round_
            zoo_speed = trainer.train_epoch(net, optimizer, EpochProgress(enabled=False), "bench")[1]
            if round_ > 0:
                plain.append(speed)
                zoo.append(zoo_speed)
                waits.append(trainer.loader_wait)
    return Row(backbone, size, batch, amp, compiled, statistics.median(plain), statistics.median(zoo),
               statistics.median(waits), flops)  # fmt: skip


def two_gpus() -> str:
    """images/s of `zoo run` under torchrun on two cards (thesis_vgg, 150 px), from its history."""
    with tempfile.TemporaryDirectory() as tmp:
        recipe, _, _ = bench_recipe(PATIENTS[150], 150, 100, "thesis_vgg", "cuda", True)
        path = Path(tmp) / "bench.yaml"
        path.write_text(recipe.to_yaml())
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "zoo", "run",
                   str(path), "--runs-dir", str(Path(tmp) / "runs")]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "ZOO_QUIET": "1"})
        if done.returncode != 0:
            return f"2-GPU torchrun: failed ({done.stderr.strip().splitlines()[-1] if done.stderr else 'no output'})"
        history = next((Path(tmp) / "runs").glob("*/history.csv")).read_text().splitlines()
        speed = float(history[-1].split(",")[history[0].split(",").index("images_per_s")])
        return f"2-GPU torchrun (thesis_vgg 150 px, bf16): {speed:.0f} images/s over both cards"


def augmentation_line(device: str) -> str:
    """images/s of the per-sample host augmentation the trainer replaced, and of the batched path on
    `device`, for 100 images of 128 px (see augment_speed.py for the CPU table)."""
    images = torch.randint(0, 256, (100, 1, 128, 128), dtype=torch.uint8)
    old = len(images) / median_seconds(lambda: per_sample(images), 3)
    on_device, rng = images.to(device), torch.Generator(device=device).manual_seed(0)
    augment = BatchAugment()

    def step() -> None:
        batched(on_device, augment, rng)
        if device == "cuda":
            torch.cuda.synchronize()

    new = len(images) / median_seconds(step, 10)
    return (
        f"augmentation at 128 px: per sample on the host {old:.0f} images/s, batched on {device} "
        f"{new:.0f} images/s ({new / old:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, help="phantom patients (default: by crop size on a GPU, 300 on CPU)")
    parser.add_argument("--batch", type=int, default=100, help="batch size of the CPU part")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", help="measure only this backbone")
    parser.add_argument("--amp", choices=["on", "off"], help="measure only the rows with AMP on (or off)")
    parser.add_argument("--compile", choices=["on", "off", "default", GRAPHS],
                        help="measure only the rows compiled (in any mode, or this one), or not compiled")
    parser.add_argument("--budget", type=float, default=420.0, help="start no row after this many seconds")
    args = arguments(parser, patients=6, batch=8, rounds=1)
    begun = time.perf_counter()
    print(f"machine: {machine()}", flush=True)
    if torch.cuda.is_available():
        card = torch.cuda.get_device_name(0)
        print(f"card: {card}, {torch.cuda.device_count()} visible", flush=True)
        rows, device = [row for row in GPU_ROWS if not (args.quick and row[4])], "cuda"  # no compiling when quick
    else:
        card = "cpu"
        print("no CUDA GPU: the GPU part was skipped; the CPU part measures thesis_vgg at 64 px", flush=True)
        compiles = (None,) if args.quick else (None, "default")  # compiling takes minutes: not in the smoke test
        rows, device = [("thesis_vgg", 64, args.batch, False, c) for c in compiles], "cpu"
        args.patients = args.patients or 300
    if not args.quick:
        print(augmentation_line(device), flush=True)
    rows = [
        row
        for row in rows
        if args.only in (None, row[0])
        and args.amp in (None, "on" if row[3] else "off")
        and args.compile in (None, "on" if row[4] else "off", row[4])
    ]
    print("| backbone | px | batch | AMP | compile | plain img/s | zoo img/s | zoo/plain | zoo/thesis | MFU "
          "| loader wait |\n|---|---|---|---|---|---|---|---|---|---|---|", flush=True)  # fmt: skip
    for backbone, size, batch, amp, compiled in rows:
        precision = "bf16" if amp and device == "cuda" else "off"
        settings = [backbone, size, batch, precision, compiled or "off"]
        if time.perf_counter() - begun > args.budget:
            print("| " + " | ".join(map(str, settings)) + " | skipped: over the time budget |", flush=True)
            continue
        row = measure(backbone, size, batch, amp, compiled, args, device)
        gc.collect()  # the row's trainer (and its loader workers) and models go before the next row
        if device == "cuda":
            torch.cuda.empty_cache()
        top = peak(card, amp)
        mfu = f"{row.zoo * row.flops / top:.1%}" if top else "-"
        thesis = f"{row.zoo / THESIS[backbone]:.1f}x" if backbone in THESIS else "-"
        cells = [*settings, f"{row.plain:.0f}", f"{row.zoo:.0f}", f"{row.zoo / row.plain:.3f}", thesis, mfu,
                 f"{row.wait:.1%}"]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    print(f"total time: {time.perf_counter() - begun:.0f} s", flush=True)
    if torch.cuda.device_count() > 1:
        print(two_gpus())


if __name__ == "__main__":
    main()
