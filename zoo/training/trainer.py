"""The trainer: a model, prepared data and a recipe's training section in, trained weights out.

- Adam (or AdamW, SGD), the recipe's stages (`freeze_backbone` trains only the head: the thesis's
  transfer learning), early stopping on a validation value with the best weights restored at the
  end of each stage.
- channels_last everywhere; on CUDA: mixed precision (bfloat16 where supported, else float16 with
  loss scaling), pinned memory and non-blocking copies, cuDNN's autotuner, TF32 matmuls, and the
  step's loss read back only every `LOSS_READS_EVERY` steps, so the host never waits for the GPU
  within an epoch. Loaders are made once per run: their workers persist across epochs.
- Under DDP (zoo.training.device) each process takes its share of every epoch; rank 0 writes the files.
- Seeded: every epoch reseeds torch from (seed, epoch) and draws its sample order from
  (seed, epoch), so the same recipe gives the same numbers on CPU, and a resumed run continues
  exactly where an uninterrupted one would have been.
- After every epoch a checkpoint is written atomically into the run folder; `resume` continues
  from it (after a crash, a kill or Ctrl-C).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Sampler

from zoo.compose.recipe import AugmentConfig, Recipe
from zoo.compose.registry import Registry
from zoo.data.augment import make_augment
from zoo.data.loader import Batch, CropBatches, Item, batches, to_model_input
from zoo.data.prepare import Prepared
from zoo.errors import UsageError, ZooError
from zoo.judging.evaluate import applicable_metrics, build_metric
from zoo.judging.results import to_predictions
from zoo.protocols import EpochSampler as StrategySampler
from zoo.protocols import Metric
from zoo.targets import TARGETS
from zoo.training import model as model_io
from zoo.training.checkpoint import (
    atomic_write,
    load_checkpoint,
    optimizer_tensors,
    remove_temporaries,
    restore_optimizer,
    save_checkpoint,
)
from zoo.training.device import Distributed, check_compile, loader_workers
from zoo.training.runs import RunFolder

THESIS_AUGMENT = AugmentConfig()
# Training losses are read back to the host every this many steps (device type; others: every
# step). Each read waits for the GPU, so on CUDA the host reads in blocks and queues steps ahead.
LOSS_READS_EVERY: dict[str, int] = {"cuda": 32}
OptimizerState = tuple[dict[str, torch.Tensor], dict[str, Any]]  # tensors and settings, as checkpointed


class Interrupted(ZooError):
    """Ctrl-C during training; the last checkpoint is kept."""

    exit_code = 130


class NonFiniteLoss(ZooError):
    """The training loss became NaN or infinite: training stops, the last checkpoint is kept."""


@dataclass
class State:
    """Where training stands; saved with every checkpoint."""

    stage: int = 0
    epoch: int = 0  # epochs done in the current stage
    global_epoch: int = 0
    best: float | None = None
    stale: int = 0
    trained: bool = False


class EpochSampler(Sampler[Item]):
    """This process's share of an epoch's draws (from the imbalance strategy, or a shuffle):
    (sample index, is a repeat to augment) pairs."""

    def __init__(self, count: int, strategy_sampler: StrategySampler | None, seed: int, dist: Distributed) -> None:
        self.count = count
        self.strategy_sampler = strategy_sampler
        self.seed = seed
        self.dist = dist
        self.epoch = 0

    def order(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole epoch's indices and copy flags, the same on every process."""
        if self.strategy_sampler is not None:
            draw = self.strategy_sampler.draw(self.epoch)
            return draw.indices, draw.copies
        order = np.random.default_rng([self.seed, 13, self.epoch]).permutation(self.count)
        return order, np.zeros(len(order), dtype=bool)

    def __iter__(self) -> Iterator[Item]:
        indices, copies = self.order()
        if self.dist.world > 1:
            per_rank = math.ceil(len(indices) / self.dist.world)
            share = slice(self.dist.rank, None, self.dist.world)
            indices = np.resize(indices, per_rank * self.dist.world)[share]
            copies = np.resize(copies, per_rank * self.dist.world)[share]
        return iter(zip(indices.tolist(), copies.tolist(), strict=True))

    def __len__(self) -> int:
        total = len(self.strategy_sampler) if self.strategy_sampler is not None else self.count
        return math.ceil(total / self.dist.world)


class Trainer:
    """Trains one recipe into one run folder."""

    def __init__(
        self,
        recipe: Recipe,
        registry: Registry,
        run: RunFolder,
        device: torch.device,
        dist: Distributed,
        prepared: Prepared,
        model: model_io.ZooModel,
    ) -> None:
        self.recipe = recipe
        self.registry = registry
        self.run = run
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
        if self.cuda:  # inputs keep one size: let cuDNN pick the fastest kernels; TF32 for float32 matmuls
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")
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
        weights = strategy.class_weights(train_cls, TARGETS[prepared.scale].strata) if strategy else None
        self.sample_weights = (
            None if weights is None else torch.as_tensor(weights[train_cls], dtype=torch.float32, device=device)
        )
        strategy_sampler = strategy.sampler(train_cls, recipe.seed) if strategy else None
        self.augment = make_augment(recipe.data.augment)
        self.copy_augment = make_augment(recipe.data.augment or THESIS_AUGMENT) if strategy_sampler else None
        self.augment_rng = torch.Generator(device=device)
        self.num_workers = loader_workers(recipe.train.num_workers, device)
        if recipe.train.compile_mode is not None:
            check_compile(device)
        self.sampler = EpochSampler(len(self.rows["train"]), strategy_sampler, recipe.seed, dist)
        self.loaders: dict[str, DataLoader[Batch]] = {}
        self.tags = set(self.model.head.outputs)
        self.metrics: dict[str, Metric] = {
            spec.name: build_metric(spec) for spec in applicable_metrics(registry, self.target, self.tags)
        }
        if recipe.eval.threshold is not None and "probs" not in self.tags:
            raise UsageError(
                f"eval.threshold needs probabilities, and head '{recipe.model.head.name}' gives none",
                hint="use a head that predicts class probabilities, or drop eval.threshold",
            )
        self.monitor, self.mode = self._monitor()
        self.history: list[dict[str, Any]] = []
        self.loader_wait = 0.0  # share of the last epoch's time spent waiting for batches
        self.next_epoch: tuple[int, Iterator[Batch]] | None = None  # (epoch, its batches, already coming)
        self.best_state: dict[str, torch.Tensor] | None = None

    # -- set-up -----------------------------------------------------------------------------

    def _dataset(self, split: str) -> CropBatches:
        rows = self.rows[split]
        table = self.data.table
        return CropBatches(self.data.pixels, table["pixel_row"].to_numpy()[rows], table["target"].to_numpy()[rows])

    def _loader(self, split: str) -> DataLoader[Batch]:
        """The split's loader, made once: its workers live as long as the trainer (persistent
        workers), and each epoch's iteration draws the sampler's order anew."""
        if split not in self.loaders:
            self.loaders[split] = batches(
                self._dataset(split),
                self.recipe.train.batch_size,
                sampler=self.sampler if split == "train" else None,
                num_workers=self.num_workers,
                pin_memory=self.cuda,
            )
        return self.loaders[split]

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
        return stopping.monitor, "max" if metric.higher_is_better else "min"

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
        backbone = cast(nn.Module, self.model.backbone)  # every Backbone is an nn.Module (zoo.protocols)
        for param in backbone.parameters():
            param.requires_grad_(not freeze)
        net: nn.Module = self.model
        if self.dist.world > 1:
            ids = [self.device.index] if self.cuda else None
            net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        mode = self.recipe.train.compile_mode
        return net if mode is None else cast(nn.Module, torch.compile(net, mode=mode))

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
        backbone = cast(nn.Module, self.model.backbone)  # every Backbone is an nn.Module (zoo.protocols)
        if all(not p.requires_grad for p in backbone.parameters()):
            backbone.eval()  # a frozen backbone keeps its BatchNorm statistics
        loader = self._loader("train")
        started, self.next_epoch = self.next_epoch, None
        batches = started[1] if started is not None and started[0] == self.sampler.epoch else iter(loader)
        epoch_seed = np.random.SeedSequence([self.recipe.seed, 17, self.sampler.epoch, self.dist.rank])
        self.augment_rng.manual_seed(int(epoch_seed.generate_state(1)[0]))
        progress.start(title, len(loader))
        read_every = LOSS_READS_EVERY.get(self.device.type, 1)
        unread: list[torch.Tensor] = []  # losses x batch sizes still on the device
        total, seen, counted, start = 0.0, 0, 0, time.perf_counter()  # counted: images whose loss was read
        waited, ready = 0.0, start
        for step, (images, targets, index, copies) in enumerate(batches):
            waited += time.perf_counter() - ready  # time the step stood waiting for its batch
            if lr_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step / len(loader))
            x = self.augmented(images, copies)
            x = x.contiguous(memory_format=torch.channels_last)
            y = targets.to(self.device, non_blocking=True)
            w = None if self.sample_weights is None else self.sample_weights[index.to(self.device, non_blocking=True)]
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                loss = self.loss_fn(net(x), y, w)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
            unread.append(loss.detach().float() * len(y))
            seen += len(y)
            if len(unread) == read_every or step == 0:  # the first step at once: the bar shows a loss
                total += read_losses(unread, step + 1 - len(unread), title, self.run.path)
                unread, counted = [], seen
            progress.step(total / max(counted, 1), seen / (time.perf_counter() - start))
            ready = time.perf_counter()
        if unread:  # the last block (the loop ran, so `step` is its last step)
            total += read_losses(unread, step + 1 - len(unread), title, self.run.path)
        if self.num_workers > 0:  # the workers fill the next epoch's first batches during validation
            self.sampler.epoch += 1  # epochs count on across stages (State.global_epoch)
            self.next_epoch = (self.sampler.epoch, iter(loader))
        if self.dist.world > 1:  # BatchNorm statistics saw each rank's own batches: take rank 0's
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer, src=0)
        elapsed = time.perf_counter() - start
        self.loader_wait = waited / elapsed if elapsed > 0 else 0.0
        return total / max(seen, 1), seen * self.dist.world / elapsed

    def augmented(self, images: torch.Tensor, copies: torch.Tensor) -> torch.Tensor:
        """A uint8 host batch as floats in [0, 1] on the device, augmented as a whole (scaled as it
        is warped, on a CPU chunk by chunk while in the cache) or only its repeated copies."""
        if self.augment is not None:
            return self.augment(images.to(self.device, non_blocking=True), self.augment_rng)
        x = to_model_input(images, self.device)
        if self.copy_augment is not None and bool(copies.any()):  # `copies` is on the host: no sync
            chosen = copies.nonzero().squeeze(1).to(self.device, non_blocking=True)  # indices, not a mask:
            x[chosen] = self.copy_augment(x[chosen], self.augment_rng)  # a mask on the device would sync
        return x

    @torch.no_grad()
    def outputs(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw model outputs and targets of a split, in table order."""
        self.model.eval()
        chunks, targets = [], []
        for images, y, _, _ in self._loader(split):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                chunks.append(self.model(to_model_input(images, self.device, channels_last=True)).float().cpu())
            targets.append(y)
        return torch.cat(chunks), torch.cat(targets)

    def validate(self) -> dict[str, float]:
        """Validation loss and every applicable metric (no intervals)."""
        if len(self.rows["val"]) == 0:
            return {}
        outputs, targets = self.outputs("val")
        patients = self.data.table["patient_id"].astype(str).to_numpy()[self.rows["val"]]
        values = {"val_loss": float(self.loss_fn(outputs, targets))}
        predictions = to_predictions(self.target, targets, self.model.predict(outputs), patients)
        values.update({f"val_{name}": metric(predictions) for name, metric in self.metrics.items()})
        return values

    # -- the loop ---------------------------------------------------------------------------

    def fit(self, state: State, resume: OptimizerState | None = None) -> State:
        """Train all stages from `state`, checkpointing after every epoch."""
        stages = self.recipe.train.stages
        progress = _progress(self.dist)
        try:
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
                        "loader_wait": self.loader_wait,
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
                        stopping = self.recipe.train.early_stopping
                        assert stopping is not None  # only early stopping stops a stage early
                        progress.done(f"early stopping: {self.monitor} did not improve for {stopping.patience} epochs")
                        break
                    if state.epoch < stage.epochs:
                        self.checkpoint(state, optimizer)
                self._restore_best()
                state.stage, state.epoch, state.best, state.stale = state.stage + 1, 0, None, 0
                state.trained = state.stage == len(stages)
                self.checkpoint(state, None)
                if self.dist.main:
                    self.run.best_weights.unlink(missing_ok=True)
        finally:  # an epoch cut short (NaN loss, Ctrl-C, SIGTERM) leaves no live bar behind
            progress.close()
        return state

    def _early_stopping(self, state: State, values: dict[str, float]) -> bool:
        if self.monitor is None or self.monitor not in values or not math.isfinite(values[self.monitor]):
            return False
        stopping = self.recipe.train.early_stopping
        assert stopping is not None  # self.monitor is set only with early stopping
        value = values[self.monitor]
        delta = stopping.min_delta
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
                atomic_write(self.run.best_weights, lambda p: save_file(self.best_state, str(p)))
            return False
        state.stale += 1
        return state.stale >= stopping.patience

    def _restore_best(self) -> None:
        """At the end of a stage, go back to its best epoch (when early stopping tracks one)."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            self.best_state = None

    def checkpoint(self, state: State, optimizer: torch.optim.Optimizer | None) -> None:
        """Write the checkpoint of `state` (rank 0), after all processes got there."""
        if self.dist.world > 1:
            torch.distributed.barrier()
        if not self.dist.main:
            return
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        meta: dict[str, Any] = {"state": asdict(state), "history": self.history, "optimizer": None}
        if optimizer is not None and state.epoch > 0:
            optimizer_part, meta["optimizer"] = optimizer_tensors(optimizer)
            tensors.update(optimizer_part)
        save_checkpoint(self.run.checkpoints, f"{state.global_epoch:04d}-{state.stage}", tensors, meta)
        self.run.write_history(self.history)

    def resume(self) -> tuple[State, OptimizerState | None]:
        """Load the run's latest checkpoint: weights, history, the stage's best weights so far;
        return the training state and the optimiser's saved state."""
        folder = self.run.checkpoints
        remove_temporaries(self.run.path)
        tensors, meta = load_checkpoint(folder)
        try:
            self.model.load_state_dict(
                {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
            )
            state = State(**meta["state"])
            self.history = list(meta["history"])
            optimizer_state = None
            if meta["optimizer"] is not None:
                optimizer_state = ({k: v for k, v in tensors.items() if k.startswith("optimizer.")}, meta["optimizer"])
            if self.run.best_weights.is_file():
                self.best_state = load_file(str(self.run.best_weights))
        except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError):
            raise UsageError(
                f"the checkpoint in '{folder.resolve()}' is damaged or from another model",
                hint="this run cannot resume; start the recipe again",
            ) from None
        return state, optimizer_state


def read_losses(unread: list[torch.Tensor], first_step: int, title: str, run: Path) -> float:
    """The sum of steps' losses x batch sizes, read from the device at once (one wait for the
    GPU); a non-finite one stops training, naming its step (`first_step` counts from 0)."""
    values = torch.stack(unread).tolist()
    for offset, value in enumerate(values):
        if not math.isfinite(value):
            raise NonFiniteLoss(
                f"the training loss became {value} at step {first_step + offset + 1} of {title}; "
                f"the checkpoint of the last finished epoch is kept in {run}",
                hint="lower train.optimizer.lr (or a stage's lr) and start a new run; "
                f"'zoo run --resume {run}' continues from that checkpoint as it is",
            )
    return float(sum(values))


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
