"""Checkpoints a run can resume from after being killed at any moment.

A checkpoint is a safetensors file (model and optimiser tensors) and a JSON file (training
state, optimiser settings), both named by a tag. Each is written to a temporary file and renamed
into place; then `latest.json` is renamed into place to point at them. A kill at any moment
leaves `latest.json` pointing at a complete checkpoint. Nothing is ever pickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from zoo.errors import UsageError


def atomic_write(path: Path, write: Any) -> None:
    """Call `write(tmp_path)`, then rename the temporary file over `path`."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def optimizer_tensors(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's state into tensors and JSON-able settings."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Load what `optimizer_tensors` split."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(folder: Path, tag: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write checkpoint `tag` and point `latest.json` at it; remove older checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"state-{tag}.safetensors", lambda p: save_file(tensors, str(p)))
    atomic_write(folder / f"state-{tag}.json", lambda p: p.write_text(json.dumps(meta)))
    atomic_write(folder / "latest.json", lambda p: p.write_text(json.dumps({"tag": tag})))
    for old in folder.glob("state-*"):
        if not old.name.startswith(f"state-{tag}."):
            old.unlink(missing_ok=True)


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The latest complete checkpoint's tensors and state."""
    pointer = folder / "latest.json"
    if not pointer.is_file():
        raise UsageError(f"no checkpoint in '{folder}'", hint="resume needs a run folder made by 'zoo run'")
    remove_temporaries(folder)
    try:
        tag = json.loads(pointer.read_text())["tag"]
        tensors = load_file(str(folder / f"state-{tag}.safetensors"))
        meta = json.loads((folder / f"state-{tag}.json").read_text())
    except (OSError, ValueError, KeyError, TypeError, SafetensorError):
        raise UsageError(
            f"the checkpoint in '{folder.resolve()}' is damaged (truncated or edited?)",
            hint="this run cannot resume; start the recipe again",
        ) from None
    return tensors, meta


def remove_temporaries(folder: Path) -> None:
    """Delete the temporary files a killed writer left behind (`.<name>.<random>` from atomic_write)."""
    for stale in folder.glob(".*.*"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
