"""All GPU checks in one run, one table: the zoo trainer against a plain loop, per model and setting.

For each model (thesis_vgg 150 px, inception_v3 150 and 299 px, resnet50 150 px,
tf_efficientnet_lite0 224 px) and setting (AMP bf16 on/off, torch.compile on/off; channels_last
and the batched device augmentation always on, as the trainer runs): images/s of a plain
hand-written loop and of the zoo's `Trainer.train_epoch` in the same run, their ratio, the ratio
to the thesis's Titan X Pascal (485 crops/s VGG, 367 InceptionV3), the model FLOP utilisation
against the card's peak, and the share of the zoo's epoch spent waiting for the loader. With two
or more cards, a `torchrun --nproc-per-node 2` line follows.

Without a GPU it runs the same measurement for thesis_vgg at 64 px on the CPU and says that the
GPU part was skipped.

Usage: python benchmarks/gpu.py [--patients N] [--rounds R] [--only NAME] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from common import arguments, bench_recipe, machine, plain_epoch
from torch.utils.flop_counter import FlopCounterMode

from zoo.compose.recipe import AugmentConfig
from zoo.data.augment import make_augment
from zoo.progress import EpochProgress
from zoo.training.device import Distributed
from zoo.training.model import build_model
from zoo.training.runs import RunFolder
from zoo.training.trainer import Trainer

THESIS = {"thesis_vgg": 485.0, "inception_v3": 367.0}  # crops/s on the thesis's Titan X Pascal
MODELS = [("thesis_vgg", 150), ("inception_v3", 150), ("inception_v3", 299), ("resnet50", 150),
          ("tf_efficientnet_lite0", 224)]  # fmt: skip
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
    amp: bool
    compiled: bool
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


def measure(backbone: str, size: int, amp: bool, compiled: bool, args: argparse.Namespace, device: str) -> Row:
    """Plain loop and zoo trainer, alternating epochs, on the same data and model."""
    recipe, registry, prepared = bench_recipe(args.patients, size, args.batch, backbone, device, amp)
    recipe = recipe.model_copy(update={
        "data": recipe.data.model_copy(update={"augment": AugmentConfig()}),
        "train": recipe.train.model_copy(update={"compile": compiled}),
    })  # fmt: skip
    dev = torch.device(device)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage")
        trainer = Trainer(recipe, registry, RunFolder(Path(tmp)), dev, Distributed(), prepared, model)
        net, optimizer = trainer.network(False), trainer.make_optimizer(1e-4)
        torch.manual_seed(0)
        plain_model = build_model(registry, recipe.model.backbone, recipe.model.head, "stage")
        plain_model = plain_model.to(dev, memory_format=torch.channels_last)
        plain_net = torch.compile(plain_model) if compiled else plain_model
        plain_optimizer = torch.optim.Adam(plain_model.parameters(), lr=1e-4)
        rows = prepared.table["pixel_row"].to_numpy()[trainer.rows["train"]]
        targets = prepared.table["target"].to_numpy()[trainer.rows["train"]]
        x = torch.rand(min(args.batch, 8), 1, size, size, device=dev).contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=trainer.amp_dtype, enabled=trainer.amp_dtype is not None):
            flops = step_flops(plain_model, x)
        plain, zoo, waits = [], [], []
        for round_ in range(args.rounds + 1):  # the first round warms up (and compiles)
            speed = plain_epoch(
                plain_net,
                plain_optimizer,
                prepared.pixels,
                rows,
                targets,
                batch=args.batch,
                seed=round_,
                device=dev,
                amp_dtype=trainer.amp_dtype,
                augment=make_augment(AugmentConfig()),
            )
            trainer.sampler.epoch = round_
            zoo_speed = trainer.train_epoch(net, optimizer, EpochProgress(enabled=False), "bench")[1]
            if round_ > 0:
                plain.append(speed)
                zoo.append(zoo_speed)
                waits.append(trainer.loader_wait)
    return Row(backbone, size, amp, compiled, statistics.median(plain), statistics.median(zoo),
               statistics.median(waits), flops)  # fmt: skip


def two_gpus(args: argparse.Namespace) -> str:
    """images/s of `zoo run` under torchrun on two cards (thesis_vgg, 150 px), from its history."""
    with tempfile.TemporaryDirectory() as tmp:
        recipe, _, _ = bench_recipe(args.patients, 150, args.batch, "thesis_vgg", "cuda", True)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, help="phantom patients (default: 1500 on a GPU, 300 on CPU)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", help="measure only this backbone")
    args = arguments(parser, patients=6, batch=8, rounds=1)
    print(f"machine: {machine()}")
    compiles = (False,) if args.quick else (False, True)  # compiling takes minutes: not in the smoke test
    args.patients = args.patients or (1500 if torch.cuda.is_available() else 300)
    if torch.cuda.is_available():
        card = torch.cuda.get_device_name(0)
        print(f"card: {card}, {torch.cuda.device_count()} visible")
        configs = [(b, s, amp, c) for b, s in MODELS for amp in (True, False) for c in compiles]
        device = "cuda"
    else:
        card = "cpu"
        print("no CUDA GPU: the GPU part was skipped; the CPU part measures thesis_vgg at 64 px")
        configs = [("thesis_vgg", 64, False, c) for c in compiles]
        device = "cpu"
    configs = [c for c in configs if args.only in (None, c[0])]
    print("| backbone | px | AMP | compile | plain img/s | zoo img/s | zoo/plain | zoo/thesis | MFU | loader wait |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backbone, size, amp, compiled in configs:
        row = measure(backbone, size, amp, compiled, args, device)
        top = peak(card, amp)
        mfu = f"{row.zoo * row.flops / top:.1%}" if top else "-"
        thesis = f"{row.zoo / THESIS[backbone]:.1f}x" if backbone in THESIS else "-"
        precision = "bf16" if amp and device == "cuda" else "off"
        cells = [backbone, size, precision, "on" if compiled else "off", f"{row.plain:.0f}", f"{row.zoo:.0f}",
                 f"{row.zoo / row.plain:.3f}", thesis, mfu, f"{row.wait:.1%}"]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |")
    if torch.cuda.device_count() > 1:
        print(two_gpus(args))


if __name__ == "__main__":
    main()
