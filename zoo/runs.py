"""Run folders: where a run keeps everything it made, and what it ran on."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

import zoo

DEFAULT_RUNS_DIR = Path("runs")


def new_run_dir(runs_dir: Path, name: str) -> Path:
    """`runs_dir/<name>-<YYYYmmdd-HHMMSS>` (with a suffix if that exists already)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    runs_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        folder = runs_dir / (f"{name}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a run folder in {runs_dir}")


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


def environment(device: torch.device, plugins: list[dict[str, Any]]) -> dict[str, Any]:
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
