"""The trainer: a recipe in, a complete run folder out.

- Adam (or AdamW, SGD), the recipe's stages (`freeze_backbone` trains only the head: the thesis's
  transfer learning), early stopping on a validation value with the best weights restored at the
  end of each stage.
- Device `auto|cpu|cuda`; channels_last everywhere; on CUDA: mixed precision (bfloat16 where
  supported, else float16 with loss scaling), pinned memory and non-blocking copies.
- Multi-GPU through `torchrun --nproc-per-node N -m zoo run RECIPE`: DDP, one process per device,
  each taking its share of every epoch; rank 0 writes the run folder.
- Seeded: every epoch reseeds torch from (seed, epoch) and draws its sample order from
  (seed, epoch), so the same recipe gives the same numbers on CPU, and a resumed run continues
  exactly where an uninterrupted one would have been.
- After every epoch a checkpoint is written atomically; `zoo run --resume RUN_DIR` continues
  from it (after a crash, a kill or Ctrl-C) and ends with the complete run folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Sampler

from zoo import leaderboard, thresholds
from zoo import model as model_io
from zoo.checkpoint import (
    atomic_write,
    load_checkpoint,
    optimizer_tensors,
    remove_temporaries,
    restore_optimizer,
    save_checkpoint,
)
from zoo.data.augment import make_augment
from zoo.data.loader import CropBatches, batches, to_model_input
from zoo.data.prepare import Prepared, prepare
from zoo.data.targets import N_CLASSES, to_target
from zoo.errors import UsageError, ZooError
from zoo.evaluate import applicable_metrics, evaluate, json_number
from zoo.paths import sha256_file
from zoo.predictions import Predictions, to_frame
from zoo.recipe import AugmentConfig, Recipe, validate_document
from zoo.registry import Registry
from zoo.yaml_lines import load_yaml

THESIS_AUGMENT = AugmentConfig()


class Interrupted(ZooError):
    """Ctrl-C during training; the last checkpoint is kept."""

    exit_code = 130


class NonFiniteLoss(ZooError):
    """The training loss became NaN or infinite: training stops, the last checkpoint is kept."""


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


def pick_device(name: str, dist: Distributed) -> torch.device:
    """`auto`: CUDA when present, else CPU; `cuda` without a GPU is a usage error."""
    if name not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "device 'cuda' asked for, but no CUDA GPU is available",
            hint="use --device cpu or --device auto",
        )
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", dist.local_rank)


@dataclass
class State:
    """Where training stands; saved with every checkpoint."""

    stage: int = 0
    epoch: int = 0  # epochs done in the current stage
    global_epoch: int = 0
    best: float | None = None
    stale: int = 0
    trained: bool = False


class EpochSampler(Sampler[int]):
    """This process's share of an epoch's sample order (from the imbalance strategy, or a shuffle)."""

    def __init__(self, count: int, strategy_sampler: Any, seed: int, dist: Distributed) -> None:
        self.count = count
        self.strategy_sampler = strategy_sampler
        self.seed = seed
        self.dist = dist
        self.epoch = 0

    def order(self) -> np.ndarray:
        """The whole epoch's order, the same on every process."""
        if self.strategy_sampler is not None:
            return self.strategy_sampler.indices(self.epoch)
        return np.random.default_rng([self.seed, 13, self.epoch]).permutation(self.count)

    def __iter__(self):  # type: ignore[no-untyped-def]
        order = self.order()
        if self.dist.world > 1:
            per_rank = math.ceil(len(order) / self.dist.world)
            order = np.resize(order, per_rank * self.dist.world)[self.dist.rank :: self.dist.world]
        return iter(order.tolist())

    def __len__(self) -> int:
        total = len(self.strategy_sampler) if self.strategy_sampler is not None else self.count
        return math.ceil(total / self.dist.world)


class Trainer:
    """Trains one recipe into one run folder."""

    def __init__(
        self,
        recipe: Recipe,
        registry: Registry,
        folder: Path,
        device: torch.device,
        dist: Distributed,
        prepared: Prepared,
        model: model_io.ZooModel,
    ) -> None:
        self.recipe = recipe
        self.registry = registry
        self.folder = folder
        self.device = device
        self.dist = dist
        self.data = prepared
        self.target = recipe.data.target
        table = prepared.table
        self.rows = {split: prepared.rows(split) for split in ("train", "val", "test")}
        if len(self.rows["train"]) == 0:
            raise UsageError("the training split is empty", hint="use more patients or change data.split")
        if recipe.train.early_stopping is not None and len(self.rows["val"]) == 0:
            raise UsageError(
                "train.early_stopping needs a validation split, but it has no patients",
                hint="use more patients, raise data.split.val, or remove train.early_stopping",
            )
        chosen_on_val = recipe.eval.threshold is not None and not isinstance(recipe.eval.threshold, float)
        if chosen_on_val and len(np.unique(prepared.table["target"].to_numpy()[self.rows["val"]])) < 2:
            raise UsageError(
                "eval.threshold is chosen on the validation split, but it lacks patients of both classes",
                hint="use more patients, raise data.split.val, or give a fixed threshold",
            )
        self.threshold: float | None = None  # binary operating point, once chosen on validation
        self.empty_splits = [split for split in recipe.eval.splits if len(self.rows[split]) == 0]
        if self.empty_splits == list(recipe.eval.splits):
            raise UsageError(
                f"eval.splits: {' and '.join(self.empty_splits)} have no patients, so the run could not be judged",
                hint="use more patients, change data.split, or evaluate a split that has patients",
            )
        if self.empty_splits and dist.main:  # recorded in metrics.json as well
            sys.stderr.write(
                f"Warning: the {' and '.join(self.empty_splits)} split has no patients and is not evaluated\n"
            )
        self.model = model.to(device)
        self.cuda = device.type == "cuda"
        # channels_last on every device: about 1.3x faster convolutions on CPU too (docs/benchmarks.md)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.amp_dtype = None
        if self.cuda and recipe.train.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.loss_fn = registry.get("losses", recipe.loss.name).build(recipe.loss.params, target=self.target)
        strategy = (
            registry.get("imbalance", recipe.imbalance.name).build(recipe.imbalance.params)
            if recipe.imbalance
            else None
        )
        train_cls = table["cls"].to_numpy()[self.rows["train"]]
        weights = strategy.class_weights(train_cls, N_CLASSES[prepared.scale]) if strategy else None
        self.sample_weights = None if weights is None else torch.as_tensor(weights[train_cls], dtype=torch.float32)
        augment = make_augment(recipe.data.augment)
        copies = getattr(strategy, "augment_copies", False)
        copy_augment = make_augment(recipe.data.augment or THESIS_AUGMENT) if copies else None
        self.train_set = self._dataset("train", augment, copy_augment)
        self.sampler = EpochSampler(
            len(self.rows["train"]),
            strategy.sampler(train_cls, recipe.seed) if strategy else None,
            recipe.seed,
            dist,
        )
        self.metrics = self._validation_metrics()
        if recipe.eval.threshold is not None and "probs" not in self.tags:
            raise UsageError(
                f"eval.threshold needs probabilities, and head '{recipe.model.head.name}' gives none",
                hint="use a head that predicts probabilities (softmax), or drop eval.threshold",
            )
        self.monitor, self.mode = self._monitor()
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] | None = None

    # -- set-up -----------------------------------------------------------------------------

    def _dataset(self, split: str, augment: Any = None, copy_augment: Any = None) -> CropBatches:
        rows = self.rows[split]
        table = self.data.table
        return CropBatches(
            self.data.pixels,
            table["pixel_row"].to_numpy()[rows],
            table["target"].to_numpy()[rows],
            augment,
            copy_augment,
        )

    def _loader(self, dataset: CropBatches, sampler: Sampler[int] | None = None) -> Any:
        return batches(
            dataset,
            self.recipe.train.batch_size,
            sampler=sampler,
            num_workers=self.recipe.train.num_workers,
            pin_memory=self.cuda,
        )

    @torch.no_grad()
    def _validation_metrics(self) -> dict[str, Any]:
        """The metrics that fit the target and what the head predicts (probabilities, a CDF)."""
        self.model.eval()
        size = self.recipe.data.image_size
        predicted = self.model.predict(self.model(torch.zeros(2, 1, size, size, device=self.device)))
        self.tags = {key for key in ("probs", "cdf") if key in predicted}
        return {spec.name: spec.build() for spec in applicable_metrics(self.registry, self.target, self.tags)}

    def _monitor(self) -> tuple[str | None, str]:
        stopping = self.recipe.train.early_stopping
        if stopping is None:
            return None, "min"
        available = ["val_loss", *[f"val_{name}" for name in self.metrics]]
        if stopping.monitor not in available:
            raise UsageError(
                f"train.early_stopping.monitor: '{stopping.monitor}' is not measured for this recipe",
                hint=f"choose one of: {', '.join(available)}",
            )
        if stopping.mode != "auto":
            return stopping.monitor, stopping.mode
        if stopping.monitor == "val_loss":
            return stopping.monitor, "min"
        metric = self.metrics[stopping.monitor.removeprefix("val_")]
        return stopping.monitor, "max" if getattr(metric, "higher_is_better", True) else "min"

    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        """A fresh optimiser over all parameters (frozen ones get no gradients)."""
        config = self.recipe.train.optimizer
        params = list(self.model.parameters())
        if config.name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay)
        if config.name == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay)

    def network(self, freeze: bool) -> nn.Module:
        """The model to train in a stage: backbone frozen or not, wrapped in DDP when distributed."""
        for param in self.model.backbone.parameters():
            param.requires_grad_(not freeze)
        if self.dist.world == 1:
            return self.model
        ids = [self.device.index] if self.cuda else None
        return nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    # -- one epoch --------------------------------------------------------------------------

    def train_epoch(
        self,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        progress: Any,
        title: str,
        lr_at: Callable[[float], float] | None = None,
    ) -> tuple[float, float]:
        """One pass over the training split; returns (mean loss, images/s over all processes).

        `lr_at(fraction)` sets the learning rate before each step from the fraction of the epoch done.
        """
        net.train()
        if all(not p.requires_grad for p in self.model.backbone.parameters()):
            self.model.backbone.eval()  # a frozen backbone keeps its BatchNorm statistics
        loader = self._loader(self.train_set, self.sampler)
        progress.start(title, len(loader))
        total, seen, start = 0.0, 0, time.perf_counter()
        for step, (images, targets, index) in enumerate(loader):
            if lr_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step / len(loader))
            x = to_model_input(images, self.device, channels_last=True)
            y = targets.to(self.device, non_blocking=True)
            w = None if self.sample_weights is None else self.sample_weights[index].to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                loss = self.loss_fn(net(x), y, w)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLoss(
                    f"the training loss became {value} at step {step + 1} of {title}; "
                    f"the checkpoint of the last finished epoch is kept in {self.folder}",
                    hint="lower train.optimizer.lr (or a stage's lr) and start a new run; "
                    f"'zoo run --resume {self.folder}' continues from that checkpoint as it is",
                )
            total += value * len(y)
            seen += len(y)
            progress.step(total / seen, seen / (time.perf_counter() - start))
        if self.dist.world > 1:  # BatchNorm statistics saw each rank's own batches: take rank 0's
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer, src=0)
        return total / max(seen, 1), seen * self.dist.world / (time.perf_counter() - start)

    @torch.no_grad()
    def outputs(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw model outputs and targets of a split, in table order."""
        self.model.eval()
        chunks, targets = [], []
        for images, y, _ in self._loader(self._dataset(split)):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                chunks.append(self.model(to_model_input(images, self.device, channels_last=True)).float().cpu())
            targets.append(y)
        return torch.cat(chunks), torch.cat(targets)

    def _predictions(
        self, targets: torch.Tensor, predicted: dict[str, torch.Tensor], patients: np.ndarray
    ) -> Predictions:
        probs = predicted.get("probs")
        cdf = predicted.get("cdf")
        pred = predicted["pred"].cpu().numpy().astype(float)
        if self.threshold is not None and probs is not None:
            pred = thresholds.apply(probs[:, 1].cpu().numpy().astype(float), self.threshold)
        return Predictions(  # float64 throughout, so the CSV round-trips exactly for `zoo evaluate`
            self.target,
            targets.numpy().astype(float),
            pred,
            patients,
            None if probs is None else probs.cpu().numpy().astype(float),
            None if cdf is None else cdf.cpu().numpy().astype(float),
        )

    def validate(self) -> dict[str, float]:
        """Validation loss and every applicable metric (no intervals)."""
        if len(self.rows["val"]) == 0:
            return {}
        outputs, targets = self.outputs("val")
        patients = self.data.table["patient_id"].astype(str).to_numpy()[self.rows["val"]]
        values = {"val_loss": float(self.loss_fn(outputs, targets))}
        predictions = self._predictions(targets, self.model.predict(outputs), patients)
        values.update({f"val_{name}": metric(predictions) for name, metric in self.metrics.items()})
        return values

    # -- the loop ---------------------------------------------------------------------------

    def fit(self, state: State, resume: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None) -> State:
        """Train all stages from `state`, checkpointing after every epoch."""
        stages = self.recipe.train.stages
        progress = _progress(self.dist)
        while state.stage < len(stages):
            stage = stages[state.stage]
            net = self.network(stage.freeze_backbone)
            optimizer = self.make_optimizer(stage.lr or self.recipe.train.optimizer.lr)
            if resume is not None:
                restore_optimizer(optimizer, *resume)
                resume = None
            while state.epoch < stage.epochs:
                torch.manual_seed(
                    int(np.random.SeedSequence([self.recipe.seed, state.global_epoch]).generate_state(1)[0])
                )
                self.sampler.epoch = state.global_epoch
                title = f"stage {state.stage + 1}/{len(stages)} epoch {state.epoch + 1}/{stage.epochs}"
                start = time.perf_counter()
                lr = stage.lr or self.recipe.train.optimizer.lr
                lr_at = schedule(self.recipe.train.schedule, lr, stage.epochs, state.epoch)
                train_loss, speed = self.train_epoch(net, optimizer, progress, title, lr_at)
                values = self.validate()
                state.epoch += 1
                state.global_epoch += 1
                row = {
                    "stage": state.stage + 1,
                    "epoch": state.global_epoch,
                    "train_loss": train_loss,
                    **values,
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": time.perf_counter() - start,
                    "images_per_s": speed,
                }
                self.history.append(row)
                stop = self._early_stopping(state, values)
                progress.done(
                    f"{title}: "
                    + ", ".join(
                        f"{k} {v:.4g}"
                        for k, v in row.items()
                        if k not in ("stage", "epoch", "lr") and isinstance(v, float)
                    )
                )
                if stop:
                    progress.done(
                        f"early stopping: {self.monitor} did not improve for "
                        f"{self.recipe.train.early_stopping.patience} epochs"
                    )
                    break
                if state.epoch < stage.epochs:
                    self._checkpoint(state, optimizer)
            self._restore_best()
            state.stage, state.epoch, state.best, state.stale = state.stage + 1, 0, None, 0
            state.trained = state.stage == len(stages)
            self._checkpoint(state, None)
            if self.dist.main:
                self.best_path.unlink(missing_ok=True)
        return state

    def _early_stopping(self, state: State, values: dict[str, float]) -> bool:
        if self.monitor is None or self.monitor not in values or not math.isfinite(values[self.monitor]):
            return False
        value = values[self.monitor]
        delta = self.recipe.train.early_stopping.min_delta
        better = state.best is None or (
            value < state.best - delta if self.mode == "min" else value > state.best + delta
        )
        if better:
            state.best, state.stale = value, 0
            self.best_state = {
                k: v.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
                for k, v in self.model.state_dict().items()
            }
            if self.dist.main:
                atomic_write(self.best_path, lambda p: save_file(self.best_state, str(p)))
            return False
        state.stale += 1
        return state.stale >= self.recipe.train.early_stopping.patience

    @property
    def best_path(self) -> Path:
        """The stage's best weights so far (kept for a resume)."""
        return self.folder / "checkpoint" / "best.safetensors"

    def _restore_best(self) -> None:
        """At the end of a stage, go back to its best epoch (when early stopping tracks one)."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            self.best_state = None

    def _checkpoint(self, state: State, optimizer: torch.optim.Optimizer | None) -> None:
        if self.dist.world > 1:
            torch.distributed.barrier()
        if not self.dist.main:
            return
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        meta: dict[str, Any] = {"state": asdict(state), "history": self.history, "optimizer": None}
        if optimizer is not None and state.epoch > 0:
            optimizer_part, meta["optimizer"] = optimizer_tensors(optimizer)
            tensors.update(optimizer_part)
        save_checkpoint(self.folder / "checkpoint", f"{state.global_epoch:04d}-{state.stage}", tensors, meta)
        _write_history(self.folder, self.history)

    # -- after training ---------------------------------------------------------------------

    def predictions(self, split: str) -> tuple[Predictions, pd.DataFrame]:
        """Predictions of a split and their CSV table."""
        outputs, targets = self.outputs(split)
        rows = self.rows[split]
        table = self.data.table.iloc[rows]
        predicted = self.model.predict(outputs)
        predictions = self._predictions(targets, predicted, table["patient_id"].astype(str).to_numpy())
        ids = table[[c for c in ("sample_id", "joint") if c in table.columns]]
        frame = to_frame(predictions, ids)
        for extra in ("median", "lower", "upper", "stage"):
            if extra in predicted:
                frame.insert(frame.columns.get_loc("y_pred") + 1, extra, predicted[extra].numpy())
        return predictions, frame

    def baselines(self, predictions: Predictions) -> dict[str, Any]:
        """The trivial predictors: the training set's majority class, or its median percent."""
        train = self.data.table["target"].to_numpy()[self.rows["train"]]
        if self.target == "percent":
            name, constant = "constant_median", float(np.median(train))
        else:
            name, constant = "majority_class", float(np.bincount(train.astype(int)).argmax())
        trivial = Predictions(
            self.target,
            predictions.y_true,
            np.full(len(predictions), constant),
            predictions.patient,
        )
        specs = applicable_metrics(self.registry, self.target, set())
        return {
            "predictor": name,
            "value": constant,
            "metrics": {s.name: json_number(s.build()(trivial)) for s in specs},
        }

    def choose_threshold(self) -> dict[str, Any] | None:
        """Set the binary operating point from the recipe's rule, on the validation split."""
        rule = self.recipe.eval.threshold
        if rule is None or self.target != "binary":
            return None
        if isinstance(rule, float):
            self.threshold = rule
        else:
            outputs, targets = self.outputs("val")
            probs = self.model.predict(outputs)["probs"][:, 1].cpu().numpy().astype(float)
            self.threshold = thresholds.choose(rule, targets.numpy(), probs)
        return {"rule": thresholds.describe(rule), "value": self.threshold, "chosen_on": "val"}

    def ceiling(self, split: str, predictions: Predictions) -> dict[str, Any] | None:
        """The best a model can score against noisy labels: predicting their true values.

        Only for datasets that know the truth behind their labels (a `true_<scale>` column, as
        the phantom gives); None otherwise.
        """
        column = f"true_{self.data.scale}"
        if column not in self.data.table.columns:
            return None
        truth = self.data.table[column].to_numpy(float)[self.rows[split]]
        known = np.isfinite(truth)
        oracle = Predictions(
            self.target,
            predictions.y_true[known],
            to_target(truth[known], self.data.scale, self.target),
            predictions.patient[known],
        )
        specs = applicable_metrics(self.registry, self.target, set())
        return {
            "predictor": "true_label",
            "n": int(known.sum()),
            "metrics": {s.name: json_number(s.build()(oracle)) for s in specs},
        }


def schedule(name: str, lr: float, epochs: int, epoch: int) -> Callable[[float], float] | None:
    """The learning rate within epoch `epoch` of a stage of `epochs` (None: constant `lr`).

    `cosine` decays from `lr` at the stage's start to zero at its end, step by step, so that a
    resumed run continues on the same curve (it depends only on where training stands).
    """
    if name == "constant":
        return None
    return lambda fraction: 0.5 * lr * (1.0 + math.cos(math.pi * (epoch + fraction) / epochs))


def _progress(dist: Distributed) -> Any:
    from zoo.progress import EpochProgress

    return EpochProgress(enabled=dist.main)


def _write_history(folder: Path, history: list[dict[str, Any]]) -> None:
    atomic_write(folder / "history.csv", lambda p: pd.DataFrame(history).to_csv(p, index=False))


def weights_digest(model: nn.Module) -> str:
    """A digest of the model's weights (equal on every DDP rank when they agree)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def finish(trainer: Trainer, env: dict[str, Any], started: float) -> dict[str, Any]:
    """Save the model, predictions and metrics; return metrics.json's content."""
    recipe, folder = trainer.recipe, trainer.folder
    operating_point = trainer.choose_threshold()
    config = model_io.model_config(recipe)
    if operating_point is not None:
        config["threshold"] = operating_point["value"]
    model_io.save(trainer.model, folder, config)
    results: dict[str, Any] = {
        "run": folder.name,
        "recipe": recipe.name,
        "recipe_sha256": recipe.digest(),
        "target": trainer.target,
        "dataset": {
            "name": recipe.data.dataset.name,
            "params": recipe.data.dataset.params,
            "fingerprint": trainer.data.fingerprint(),
        },
        "splits": {},
        "baselines": {},
    }
    if operating_point is not None:
        results["threshold"] = operating_point
    if trainer.empty_splits:
        results["empty_splits"] = trainer.empty_splits
    for split in recipe.eval.splits:
        if len(trainer.rows[split]) == 0:
            continue
        predictions, frame = trainer.predictions(split)
        frame.to_csv(folder / f"predictions-{split}.csv", index=False)
        results["splits"][split] = evaluate(
            predictions, trainer.registry, recipe.eval.metrics, recipe.eval.bootstrap, recipe.seed
        )
        results["baselines"][split] = trainer.baselines(predictions)
        ceiling = trainer.ceiling(split, predictions)
        if ceiling is not None:
            results.setdefault("ceilings", {})[split] = ceiling
    results["training"] = {
        "epochs": len(trainer.history),
        "seconds": round(time.perf_counter() - started, 1),
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "image_size": recipe.data.image_size,
        "device": env["device"],
        "device_name": env["device_name"],
        "weights_sha256": sha256_file(folder / "model.safetensors"),
    }
    (folder / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    leaderboard.append(leaderboard.store_path(folder.parent), leaderboard.rows_for_run(recipe, results, env))
    return results


def _write_data_files(folder: Path, prepared: Prepared) -> None:
    table = prepared.table
    table[["sample_id", "patient_id", "split"]].to_csv(folder / "split.csv", index=False)
    if len(prepared.problems):
        prepared.problems.to_csv(folder / "skipped.csv", index=False)


def _check_split(folder: Path, prepared: Prepared) -> None:
    """On resume, the data must split exactly as the run's saved split."""
    saved = pd.read_csv(folder / "split.csv", dtype=str)
    current = prepared.table[["sample_id", "split"]].astype(str).reset_index(drop=True)
    if len(saved) != len(current) or not (
        saved["sample_id"].equals(current["sample_id"]) and saved["split"].equals(current["split"])
    ):
        raise UsageError(
            f"the data no longer matches the run's split.csv in '{folder}'",
            hint="the dataset changed since the run started; start a new run",
        )


def train(
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
    from zoo.runs import new_run_dir

    started = time.perf_counter()
    dist = distributed(device_name)
    device = pick_device(device_name, dist)
    torch.manual_seed(recipe.seed)
    # The model first: missing pretrained weights fail in seconds, before any data is prepared.
    model = model_io.build_model(registry, recipe.model.backbone, recipe.model.head, recipe.data.target)
    prepared = prepare(recipe, registry)
    if resume is not None:
        folder = resume
        _check_split(folder, prepared)
    else:
        assert runs_dir is not None
        names = [str(new_run_dir(runs_dir, recipe.name)) if dist.main else ""]
        if dist.world > 1:
            torch.distributed.broadcast_object_list(names, src=0)
        folder = Path(names[0])
    try:
        trainer, state, optimizer_state, env = _start(
            recipe, registry, folder, device, dist, prepared, model, env_plugins, recipe_text, resume
        )
    except BaseException:
        if resume is None and dist.main:  # a run that never started leaves no half-made folder
            shutil.rmtree(folder, ignore_errors=True)
        raise
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        if not state.trained:
            state = trainer.fit(state, optimizer_state)
    except (KeyboardInterrupt, Terminated) as stop:
        raise Interrupted(
            f"{'terminated' if isinstance(stop, Terminated) else 'interrupted'}; "
            f"the checkpoint after epoch {state.global_epoch} is kept in {folder}",
            hint=f"resume with: zoo run --resume {folder}",
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
    return folder, results


class Terminated(Exception):
    """SIGTERM during training: handled like Ctrl-C."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def _start(
    recipe: Recipe,
    registry: Registry,
    folder: Path,
    device: torch.device,
    dist: Distributed,
    prepared: Prepared,
    model: model_io.ZooModel,
    env_plugins: list[dict[str, Any]],
    recipe_text: str | None,
    resume: Path | None,
) -> tuple[Trainer, State, tuple[dict[str, torch.Tensor], dict[str, Any]] | None, dict[str, Any]]:
    """Fill a new run folder (or read a resumed one) up to the first checkpoint."""
    from zoo.runs import environment

    if resume is None and dist.main:
        (folder / "recipe.yaml").write_text(recipe_text if recipe_text is not None else recipe.to_yaml())
        (folder / "resolved.yaml").write_text(recipe.to_yaml())
        _write_data_files(folder, prepared)
    env = environment(device, env_plugins)
    if dist.main:
        (folder / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    trainer = Trainer(recipe, registry, folder, device, dist, prepared, model)
    state, optimizer_state = State(), None
    if resume is None:
        trainer._checkpoint(state, None)
        return trainer, state, None, env
    remove_temporaries(folder)
    tensors, meta = load_checkpoint(folder / "checkpoint")
    try:
        trainer.model.load_state_dict(
            {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        )
        state = State(**meta["state"])
        trainer.history = list(meta["history"])
        if meta["optimizer"] is not None:
            optimizer_state = ({k: v for k, v in tensors.items() if k.startswith("optimizer.")}, meta["optimizer"])
        if trainer.best_path.is_file():
            trainer.best_state = load_file(str(trainer.best_path))
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError):
        raise UsageError(
            f"the checkpoint in '{(folder / 'checkpoint').resolve()}' is damaged or from another model",
            hint="this run cannot resume; start the recipe again",
        ) from None
    return trainer, state, optimizer_state, env


def load_run_recipe(folder: Path, registry: Registry) -> Recipe:
    """The resolved recipe a run folder was started with."""
    path = folder / "resolved.yaml"
    if not path.is_file():
        raise UsageError(
            f"'{folder}' is not a run folder (no resolved.yaml)",
            hint="give a folder made by 'zoo run'",
        )
    return validate_document(load_yaml(path.read_text(), str(path)), registry, checks=False)
