"""Training a recipe from start to a trained run: device, model, data, run folder, training.

`train_recipe` is what `zoo run` (and `torchrun ... -m zoo run`) calls first. It builds the model
first (missing pretrained weights fail in seconds, before any data is prepared), prepares and
checks the data, builds the other parts, fills a new run folder (or checks a resumed one), trains
(zoo.training.trainer), saves the model and hands judging a `TrainedRun` (zoo.trained) with the
model's outputs on every split judging reads. Ctrl-C or SIGTERM keep the last checkpoint and say
how to resume; a run that never started leaves no half-made folder.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import torch

from zoo.compose.bundles import find
from zoo.compose.lifecycle import Lifecycle
from zoo.compose.recipe import Recipe
from zoo.compose.registry import Registry
from zoo.compose.run_checks import check_splits, early_stopping_monitor
from zoo.data.prepare import Prepared, prepare
from zoo.errors import UsageError, ZooError, disk_full, resume_after_disk_full
from zoo.output import note, warn
from zoo.paths import sha256_file
from zoo.runs import RunFolder, RunInfo
from zoo.trained import TrainedRun
from zoo.training import model as model_io
from zoo.training.checkpoint import State
from zoo.training.device import distributed, environment, pick_device, set_up, weights_digest
from zoo.training.trainer import Trainer

if TYPE_CHECKING:
    from zoo.compose.plugins import PluginInfo


class Interrupted(ZooError):
    """Ctrl-C or SIGTERM during training; the last checkpoint is kept."""

    exit_code = 130


class Terminated(Exception):
    """SIGTERM during training: handled like Ctrl-C."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def train_recipe(
    recipe: Recipe,
    registry: Registry,
    device_name: str,
    env_plugins: list[PluginInfo],
    runs_dir: Path | None = None,
    recipe_text: str | None = None,
    resume: Path | None = None,
    lifecycle: Lifecycle | None = None,
) -> TrainedRun | None:
    """Train a recipe in a new folder under `runs_dir`, or resume the run in folder `resume`.

    Returns the trained run on rank 0 (None on the other processes of a multi-GPU run); the
    lifecycle hears the run start and each epoch end.
    """
    started = time.perf_counter()
    dist = distributed(device_name)
    device = pick_device(device_name, dist)
    torch.manual_seed(recipe.seed)
    # The model first: missing pretrained weights fail in seconds, before any data is prepared.
    model = model_io.build_model(
        registry,
        recipe.model.backbone,
        recipe.model.head,
        recipe.data.target,
        landmarks=recipe.data.landmarks,
        extra_heads={name: extra.head for name, extra in recipe.extra_targets.items()},
    )
    if recipe.model.pretrained is not None and resume is None:  # a resumed run's checkpoint holds its weights
        loaded, total = model_io.initialise_from(model, find(recipe.model.pretrained, registry))
        if dist.main:
            note(f"model.pretrained: {loaded} of {total} tensors loaded from '{recipe.model.pretrained}'")
    prepared = prepare(recipe, registry)
    empty = check_splits(recipe, prepared)
    if empty and dist.main:  # recorded in metrics.json as well
        warn(f"the {' and '.join(empty)} split has no patients and is not evaluated")
    parts = model_io.build_parts(registry, recipe, model, prepared)
    monitor = early_stopping_monitor(recipe, parts.metrics, parts.extra_metrics)
    setup = set_up(device, dist, recipe.train)
    if resume is not None:
        run = RunFolder(resume)
        _check_split(run, prepared)
    else:
        assert runs_dir is not None
        names = [str(RunFolder.new(runs_dir, recipe.name).path) if dist.main else ""]
        if dist.world > 1:
            torch.distributed.broadcast_object_list(names, src=0)
        run = RunFolder(Path(names[0]))
    info = RunInfo(run, recipe.to_dict(), resumed=resume is not None)
    on_epoch = None if lifecycle is None else lifecycle.epoch_ended
    try:
        env = environment(device, env_plugins)
        if resume is None and dist.main:
            run.write_recipe(recipe_text if recipe_text is not None else recipe.to_yaml(), recipe.to_yaml())
            run.write_split(prepared.table, prepared.problems)
        if dist.main:
            run.write_env(env)
        trainer = Trainer(recipe, parts, prepared, setup, run, monitor, on_epoch)
        if resume is not None:
            state, optimizer_state = trainer.resume()
        else:
            state, optimizer_state = State(), None
            trainer.checkpoint(state, None)
    except BaseException:
        if resume is None and dist.main:  # a run that never started leaves no half-made folder
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    if lifecycle is not None and dist.main:
        lifecycle.started(info)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        if not state.trained:
            state = trainer.fit(state, optimizer_state)
    except OSError as error:
        if disk_full(error):
            raise resume_after_disk_full(run.path) from None
        raise
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
    if not dist.main:
        return None
    if recipe.eval.tta is not None:  # judging and every later use average over the transforms
        trainer.model.tta = recipe.eval.tta.transforms
    try:
        model_io.save(trainer.model, run, model_io.model_config(recipe, prepared))
    except OSError as error:
        if disk_full(error):
            raise resume_after_disk_full(run.path) from None
        raise
    return TrainedRun(
        folder=run,
        model=trainer.model,
        target=recipe.data.target,
        scale=prepared.scale,
        splits={
            split: prepared.split_outputs(split, trainer.outputs(split)[0])
            for split in recipe.eval.judged_splits
            if split not in empty
        },
        empty_splits=empty,
        train_targets=prepared.targets(prepared.rows("train")),
        fingerprint=prepared.fingerprint(),
        extra_targets=prepared.judged_extra_targets(),
        history=trainer.history,
        training={
            "epochs": len(trainer.history),
            "seconds": round(time.perf_counter() - started, 1),
            "params": sum(p.numel() for p in trainer.model.parameters()),
            "image_size": recipe.data.image_size,
            "device": env["device"],
            "device_name": env["device_name"],
            "weights_sha256": sha256_file(run.weights_file),
        },
        env=env,
    )


def _check_split(run: RunFolder, prepared: Prepared) -> None:
    """On resume, the data must split exactly as the run's saved split."""
    if not prepared.splits_as(run.read_split()):
        raise UsageError(
            f"the data no longer matches the run's {run.split_file.name} in '{run.path}'",
            hint="the dataset changed since the run started; start a new run",
        )
