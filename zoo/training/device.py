"""Where a run computes: the device, the DDP process group, and what the run ran on.

- Device `auto|cpu|cuda`: `auto` is CUDA when present, else CPU.
- Multi-GPU through `torchrun --nproc-per-node N -m zoo run RECIPE`: DDP, one process per
  device; rank 0 writes the run folder.
- `set_up` settles how training uses the device: cuDNN's autotuner and TF32 matmuls on CUDA, the
  mixed-precision type, loader workers, and whether torch.compile works here.
- `environment()` records versions, git sha and device for env.json and the leaderboard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

import zoo
from zoo.errors import UsageError

if TYPE_CHECKING:
    from zoo.compose.plugins import PluginInfo
    from zoo.compose.recipe import TrainConfig
    from zoo.runs import Env

DEVICES = ("auto", "cpu", "cuda")
MAX_AUTO_WORKERS = 8


@dataclass
class Distributed:
    """This process's place among the DDP processes (world 1: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 writes the run folder."""
        return self.rank == 0


def distributed(device_name: str) -> Distributed:
    """Join the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(torch.distributed.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(name: str, dist: Distributed | None = None) -> torch.device:
    """`auto`: CUDA when present, else CPU; `cuda` without a GPU is a usage error."""
    if name not in DEVICES:
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "device 'cuda' asked for, but no CUDA GPU is available",
            hint="use --device cpu or --device auto",
        )
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", (dist or Distributed()).local_rank)


def loader_workers(setting: int | str, device: torch.device) -> int:
    """Loader worker processes for `train.num_workers`.

    `auto`: none on CPU (the model's own threads need every core, and the cache is memory-mapped,
    so reading a batch is cheap); on CUDA, one per core but one (at most 8) so that decoding
    never waits. A number above the machine's cores is refused: the workers would only compete.
    """
    cores = os.cpu_count() or 1
    if setting == "auto":
        return min(MAX_AUTO_WORKERS, max(cores - 1, 0)) if device.type == "cuda" else 0
    workers = int(setting)
    if workers > cores:
        raise UsageError(
            f"train.num_workers: {workers} loader workers, but this machine has {cores} cores",
            hint=f"use num_workers: auto, or at most {cores}",
        )
    return workers


def check_compile(device: torch.device) -> None:
    """`train.compile` needs a working torch.compile here: a clear error when it has none."""
    try:
        probe = torch.compile(lambda x: torch.relu(x) + 1)
        probe(torch.zeros(4, device=device))
    except Exception as exc:  # inductor raises many kinds: a missing compiler, an unsupported device
        raise UsageError(
            f"train.compile: torch.compile does not work on this machine ({type(exc).__name__})",
            hint="set train.compile: false (on CPU it needs a C++ compiler such as gcc)",
        ) from None


@dataclass(frozen=True)
class DeviceSetup:
    """How training uses its device: the process's place, mixed precision and loader workers."""

    device: torch.device
    dist: Distributed
    amp_dtype: torch.dtype | None  # None: full precision
    num_workers: int

    @property
    def cuda(self) -> bool:
        """Whether training runs on a CUDA GPU."""
        return self.device.type == "cuda"


def set_up(device: torch.device, dist: Distributed, train: TrainConfig) -> DeviceSetup:
    """Settle the device for a recipe's training section (and check that its settings work here)."""
    amp_dtype = None
    if device.type == "cuda":  # inputs keep one size: let cuDNN pick the fastest kernels; TF32 for float32 matmuls
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
        if train.amp:
            amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if train.compile_mode is not None:
        check_compile(device)
    return DeviceSetup(device, dist, amp_dtype, loader_workers(train.num_workers, device))


def leave_process_group() -> None:
    """After a DDP run (judged on rank 0): wait for every process, then leave the process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def weights_digest(model: nn.Module) -> str:
    """A digest of the model's weights (equal on every DDP rank when they agree)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def git_sha() -> str | None:
    """The commit of the zoo's source tree, when it is a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(zoo.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def environment(device: torch.device, plugins: list[PluginInfo]) -> Env:
    """Versions, git sha and device, for env.json and the leaderboard."""
    return {
        "zoo_version": zoo.__version__,
        "git_sha": git_sha(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in ("torch", "torchvision", "timm", "numpy", "pandas", "scikit-learn")},
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "plugins": {p["name"]: p.get("version") for p in plugins},
        "command": sys.argv,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
