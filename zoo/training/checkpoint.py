"""Checkpoints a run can resume from after being killed at any moment.

A checkpoint is a safetensors file (model and optimiser tensors) and a JSON file (training
state, optimiser settings), both named by a tag. Each is written to a temporary file and renamed
into place; then `latest.json` is renamed into place to point at them. A kill at any moment
leaves `latest.json` pointing at a complete checkpoint. Nothing is ever pickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.errors import UsageError
from zoo.paths import atomic_write
from zoo.runs import RunFolder

if TYPE_CHECKING:
    from zoo.protocols import JsonValue


class OptimizerSettings(TypedDict):
    """An optimiser's state other than its tensors: its parameter groups and scalar values."""

    param_groups: list[dict[str, JsonValue]]
    scalars: dict[str, JsonValue]  # "<parameter index>.<name>"


class Meta(TypedDict):
    """A checkpoint's JSON file."""

    state: dict[str, Any]  # the `State`'s fields
    history: list[dict[str, float]]
    optimizer: OptimizerSettings | None  # within a stage


OptimizerState = tuple[dict[str, torch.Tensor], OptimizerSettings]  # tensors and settings, as checkpointed


@dataclass
class State:
    """Where training stands; saved with every checkpoint."""

    stage: int = 0
    epoch: int = 0  # epochs done in the current stage
    global_epoch: int = 0
    best: float | None = None
    stale: int = 0
    trained: bool = False


@dataclass
class Resumed:
    """What a run's latest checkpoint restores besides the model's weights."""

    state: State
    history: list[dict[str, float]]
    optimizer: OptimizerState | None
    best_state: dict[str, torch.Tensor] | None  # the current stage's best weights while early stopping


def optimizer_tensors(
    optimizer: torch.optim.Optimizer,
) -> OptimizerState:
    """Split an optimiser's state into tensors and JSON-able settings."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, JsonValue] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: OptimizerSettings
) -> None:
    """Load what `optimizer_tensors` split."""
    state: dict[int, dict[str, object]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, scalar in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = scalar
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(folder: Path, tag: str, tensors: dict[str, torch.Tensor], meta: Meta) -> None:
    """Write checkpoint `tag` and point `latest.json` at it; remove older checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"state-{tag}.safetensors", lambda p: save_file(tensors, str(p)))
    atomic_write(folder / f"state-{tag}.json", lambda p: p.write_text(json.dumps(meta)))
    atomic_write(folder / "latest.json", lambda p: p.write_text(json.dumps({"tag": tag})))
    for old in folder.glob("state-*"):
        if not old.name.startswith(f"state-{tag}."):
            old.unlink(missing_ok=True)


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], Meta]:
    """The latest complete checkpoint's tensors and state."""
    pointer = folder / "latest.json"
    if not pointer.is_file():
        raise UsageError(f"no checkpoint in '{folder}'", hint="resume needs a run folder made by 'zoo run'")
    remove_temporaries(folder)
    try:
        tag = json.loads(pointer.read_text())["tag"]
        tensors = load_file(str(folder / f"state-{tag}.safetensors"))
        meta: Meta = json.loads((folder / f"state-{tag}.json").read_text())
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


def write_training_state(
    run: RunFolder,
    model: nn.Module,
    state: State,
    history: list[dict[str, float]],
    optimizer: torch.optim.Optimizer | None,
) -> None:
    """Checkpoint the model, the training state, the history and (within a stage) the optimiser."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta: Meta = {"state": asdict(state), "history": history, "optimizer": None}
    if optimizer is not None and state.epoch > 0:
        optimizer_part, meta["optimizer"] = optimizer_tensors(optimizer)
        tensors.update(optimizer_part)
    save_checkpoint(run.checkpoints, f"{state.global_epoch:04d}-{state.stage}", tensors, meta)
    run.write_history(history)


def read_training_state(run: RunFolder, model: nn.Module) -> Resumed:
    """Load a run's latest checkpoint into `model`; return the rest of what it saved."""
    remove_temporaries(run.path)
    tensors, meta = load_checkpoint(run.checkpoints)
    try:
        model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
        optimizer = None
        if meta["optimizer"] is not None:
            optimizer = ({k: v for k, v in tensors.items() if k.startswith("optimizer.")}, meta["optimizer"])
        best = load_file(str(run.best_weights)) if run.best_weights.is_file() else None
        return Resumed(State(**meta["state"]), list(meta["history"]), optimizer, best)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError):
        raise UsageError(
            f"the checkpoint in '{run.checkpoints.resolve()}' is damaged or from another model",
            hint="this run cannot resume; start the recipe again",
        ) from None
