"""Shared set-up of the benchmarks: the `--quick` option, a small phantom recipe prepared through
the zoo, the speed of plain training steps, and a line about the machine."""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.compose.plugins import get_registry
from zoo.compose.recipe import validate_document
from zoo.compose.registry import Registry
from zoo.compose.yaml_lines import load_yaml
from zoo.data.augment import BatchAugment
from zoo.data.loader import unit_floats
from zoo.data.prepare import Prepared, prepare

THESIS = {"thesis_vgg": 485.0, "inception_v3": 367.0}  # crops/s on the thesis's Titan X Pascal
RECIPE = """\
name: bench
data:
  dataset: {{name: phantom, params: {{patients: {patients}, visits: 2, size: {size}}}}}
  target: stage
  image_size: {size}
model:
  backbone: {{name: {backbone}}}
  head: {{name: softmax, params: {{hidden: [128, 64], dropout: 0.3}}}}
loss: cross_entropy
train: {{batch_size: {batch}, stages: [{{epochs: 1}}], device: {device}, amp: {amp}}}
"""


def arguments(parser: argparse.ArgumentParser, **quick: Any) -> argparse.Namespace:
    """Parse the command line, with `--quick`: `quick`'s sizes become the defaults.

    `--quick` runs the same code paths on the smallest sizes that still exercise them all, in
    seconds: a smoke test (tests/test_benchmarks.py), not a measurement. Options given still win.
    """
    parser.add_argument("--quick", action="store_true", help="smallest sizes, in seconds: a smoke test")
    if parser.parse_known_args()[0].quick:
        parser.set_defaults(**quick)
    return parser.parse_args()


def bench_recipe(
    patients: int, size: int, batch: int, backbone: str = "thesis_vgg", device: str = "cpu", amp: bool = True
) -> tuple[Any, Registry, Prepared]:
    """The benchmark recipe, the registry and the prepared data (phantom cached after the first call)."""
    registry = get_registry()
    text = RECIPE.format(
        patients=patients, size=size, batch=batch, backbone=backbone, device=device, amp=str(amp).lower()
    )
    recipe = validate_document(load_yaml(text, "bench.yaml"), registry)
    return recipe, registry, prepare(recipe, registry)


def machine() -> str:
    """One line about the machine, for docs/benchmarks.md."""
    cpu = platform.processor() or "cpu"
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = f"{names[0]} x {len(names)}" if names else cpu
    return f"{platform.machine()}, {cpu}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def output(path: Path | None, text: str) -> None:
    """Print, and append to a file when asked."""
    print(text)
    if path is not None:
        with open(path, "a") as handle:
            handle.write(text + "\n")


def train_speed(model: torch.nn.Module, x: torch.Tensor, steps: int, warm: int = 1, amp: bool = False) -> float:
    """Images/s of `steps` training steps (forward, backward, Adam; bf16 autocast with `amp`) on
    batch `x`, after `warm` warm-up steps; on a GPU the clock waits for the device."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    y = torch.zeros(len(x), dtype=torch.long, device=x.device)
    model.train()

    def step() -> None:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def synchronize() -> None:
        if x.device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warm):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return steps * len(x) / (time.perf_counter() - start)


def median_seconds(step: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls of `step()` after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plain_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    pixels: np.ndarray,
    rows: np.ndarray,
    targets: np.ndarray,
    batch: int,
    seed: int,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    augment: BatchAugment | None = None,
) -> float:
    """One epoch the way one would write it by hand (channels_last, optionally the trainer's device
    augmentation, the losses summed on the device and read once at the end); returns images/s."""
    rng = torch.Generator(device=device).manual_seed(seed)
    model.train()
    order = np.random.default_rng(seed).permutation(len(rows))
    total = torch.zeros((), device=device)
    start = time.perf_counter()
    for begin in range(0, len(order), batch):
        chosen = order[begin : begin + batch]
        if len(chosen) < 2:  # as the trainer does: batch normalisation cannot train on one sample
            break
        x = torch.from_numpy(pixels[rows[chosen]]).unsqueeze(1).to(device, non_blocking=True)
        x = unit_floats(x) if augment is None else augment(x, rng)  # it scales the uint8 batch itself
        x = x.contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(targets[chosen]).long().to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach().float()
    float(total)  # wait for the last step
    return len(order) / (time.perf_counter() - start)
