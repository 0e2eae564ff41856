"""Running a recipe end to end: device, model, data, run folder, training, judging.

`run_recipe` is what `zoo run` (and `torchrun ... -m zoo run`) calls. It builds the model
first (missing pretrained weights fail in seconds, before any data is prepared), prepares the
data, fills a new run folder (or checks a resumed one), trains (zoo.training.trainer), and judges the
result (zoo.judging.results) into metrics.json and the leaderboard. Ctrl-C or SIGTERM keep the last
checkpoint and say how to resume; a run that never started leaves no half-made folder.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from zoo.compose.recipe import Recipe
from zoo.compose.registry import Registry
from zoo.data.prepare import Prepared, prepare
from zoo.errors import UsageError
from zoo.judging.results import finish
from zoo.training import model as model_io
from zoo.training.device import Distributed, distributed, environment, pick_device, weights_digest
from zoo.training.runs import RunFolder
from zoo.training.trainer import Interrupted, OptimizerState, State, Trainer


class Terminated(Exception):
    """SIGTERM during training: handled like Ctrl-C."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def run_recipe(
    recipe: Recipe,
    registry: Registry,
    device_name: str,
    env_plugins: list[dict[str, Any]],
    runs_dir: Path | None = None,
    recipe_text: str | None = None,
    resume: Path | None = None,
) -> tuple[Path, dict[str, Any] | None]:
    """Run a recipe in a new folder under `runs_dir`, or resume the run in folder `resume`.

    Returns the run folder and, on rank 0, metrics.json's content.
    """
    started = time.perf_counter()
    dist = distributed(device_name)
    device = pick_device(device_name, dist)
    torch.manual_seed(recipe.seed)
    # The model first: missing pretrained weights fail in seconds, before any data is prepared.
    model = model_io.build_model(registry, recipe.model.backbone, recipe.model.head, recipe.data.target)
    prepared = prepare(recipe, registry)
    if resume is not None:
        run = RunFolder(resume)
        _check_split(run, prepared)
    else:
        assert runs_dir is not None
        names = [str(RunFolder.new(runs_dir, recipe.name).path) if dist.main else ""]
        if dist.world > 1:
            torch.distributed.broadcast_object_list(names, src=0)
        run = RunFolder(Path(names[0]))
    try:
        trainer, state, optimizer_state, env = _start(
            recipe, registry, run, device, dist, prepared, model, env_plugins, recipe_text, resume is not None
        )
    except BaseException:
        if resume is None and dist.main:  # a run that never started leaves no half-made folder
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        if not state.trained:
            state = trainer.fit(state, optimizer_state)
    except (KeyboardInterrupt, Terminated) as stop:
        raise Interrupted(
            f"{'terminated' if isinstance(stop, Terminated) else 'interrupted'}; "
            f"the checkpoint after epoch {state.global_epoch} is kept in {run.path}",
            hint=f"resume with: zoo run --resume {run.path}",
        ) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if dist.world > 1:
        sys.stderr.write(f"rank {dist.rank}/{dist.world}: weights sha256 {weights_digest(trainer.model)}\n")
    results = finish(trainer, env, started) if dist.main else None
    if dist.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return run.path, results


def _check_split(run: RunFolder, prepared: Prepared) -> None:
    """On resume, the data must split exactly as the run's saved split."""
    saved = run.read_split()
    current = prepared.table[["sample_id", "split"]].astype(str).reset_index(drop=True)
    if len(saved) != len(current) or not (
        saved["sample_id"].equals(current["sample_id"]) and saved["split"].equals(current["split"])
    ):
        raise UsageError(
            f"the data no longer matches the run's {run.split_file.name} in '{run.path}'",
            hint="the dataset changed since the run started; start a new run",
        )


def _start(
    recipe: Recipe,
    registry: Registry,
    run: RunFolder,
    device: torch.device,
    dist: Distributed,
    prepared: Prepared,
    model: model_io.ZooModel,
    env_plugins: list[dict[str, Any]],
    recipe_text: str | None,
    resuming: bool,
) -> tuple[Trainer, State, OptimizerState | None, dict[str, Any]]:
    """Fill a new run folder (or read a resumed one) up to the first checkpoint."""
    if not resuming and dist.main:
        run.write_recipe(recipe_text if recipe_text is not None else recipe.to_yaml(), recipe.to_yaml())
        run.write_split(prepared.table, prepared.problems)
    env = environment(device, env_plugins)
    if dist.main:
        run.write_env(env)
    trainer = Trainer(recipe, registry, run, device, dist, prepared, model)
    if resuming:
        state, optimizer_state = trainer.resume()
        return trainer, state, optimizer_state, env
    state = State()
    trainer.checkpoint(state, None)
    return trainer, state, None, env
