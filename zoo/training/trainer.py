"""The trainer: built parts, prepared data and a set-up device in, trained weights out.

It only trains: the data was checked (zoo.compose.run_checks), the parts were built
(zoo.training.model) and the device settled (zoo.training.device) before it starts.

- Adam (or AdamW, SGD), the recipe's stages (`freeze_backbone` trains only the head: the thesis's
  transfer learning), early stopping on a validation value with the best weights restored at the
  end of each stage.
- channels_last everywhere; on CUDA: mixed precision (bfloat16 where supported, else float16 with
  loss scaling), pinned memory and non-blocking copies, and the step's loss read back only every
  `LOSS_READS_EVERY` steps, so the host never waits for the GPU within an epoch. Loaders are made
  once per run: their workers persist across epochs.
- Under DDP (zoo.training.device) each process takes its share of every epoch; rank 0 writes the files.
- Seeded: every epoch reseeds torch from (seed, epoch) and draws its sample order from
  (seed, epoch), so the same recipe gives the same numbers on CPU, and a resumed run continues
  exactly where an uninterrupted one would have been.
- After every epoch a checkpoint is written atomically into the run folder; `resume` continues
  from it (after a crash, a kill or Ctrl-C). Each finished epoch's row goes to `on_epoch` too
  (the lifecycle hooks).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader

from zoo.compose.recipe import Recipe
from zoo.data.loader import Batch, batches, to_model_input
from zoo.data.prepare import Prepared
from zoo.errors import ZooError
from zoo.paths import atomic_write
from zoo.progress import EpochProgress
from zoo.runs import RunFolder
from zoo.training.checkpoint import OptimizerState, State, read_training_state, restore_optimizer, write_training_state
from zoo.training.device import DeviceSetup
from zoo.training.model import TrainingParts, build_optimizer
from zoo.training.sampling import EpochSampler
from zoo.training.schedule import schedule
from zoo.training.validation import validation_metrics

# Training losses are read back to the host every this many steps (device type; others: every
# step). Each read waits for the GPU, so on CUDA the host reads in blocks and queues steps ahead.
LOSS_READS_EVERY: dict[str, int] = {"cuda": 32}


class NonFiniteLoss(ZooError):
    """The training loss became NaN or infinite: training stops, the last checkpoint is kept."""


EpochEnded = Callable[[dict[str, float]], None]  # called with each finished epoch's row of history.csv


class Trainer:
    """Trains one recipe into one run folder."""

    def __init__(
        self,
        recipe: Recipe,
        parts: TrainingParts,
        data: Prepared,
        setup: DeviceSetup,
        run: RunFolder,
        monitor: tuple[str | None, str] = (None, "min"),
        on_epoch: EpochEnded | None = None,
    ) -> None:
        self.recipe = recipe
        self.run = run
        self.data = data
        self.device, self.dist, self.cuda = setup.device, setup.dist, setup.cuda
        self.amp_dtype, self.num_workers = setup.amp_dtype, setup.num_workers
        self.target = recipe.data.target
        self.rows = {split: data.rows(split) for split in ("train", "val", "test")}
        self.model = parts.model.to(self.device)
        # channels_last on every device: about 1.3x faster convolutions on CPU too (docs/benchmarks.md)
        self.model = self.model.to(memory_format=torch.channels_last)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.loss_fn = parts.loss
        self.metrics, self.extra_metrics = parts.metrics, parts.extra_metrics
        self.sample_weights = (
            None
            if parts.sample_weights is None
            else torch.as_tensor(parts.sample_weights, dtype=torch.float32, device=self.device)
        )
        self.augment, self.copy_augment = parts.augment, parts.copy_augment
        self.augment_rng = torch.Generator(device=self.device)
        self.sampler = EpochSampler(len(self.rows["train"]), parts.sampler, recipe.seed, self.dist)
        self.loaders: dict[str, DataLoader[Batch]] = {}
        self.monitor, self.mode = monitor
        self.on_epoch = on_epoch
        self.history: list[dict[str, float]] = []
        self.loader_wait = 0.0  # share of the last epoch's time spent waiting for batches
        self.next_epoch: tuple[int, Iterator[Batch]] | None = None  # (epoch, its batches, already coming)
        self.best_state: dict[str, torch.Tensor] | None = None

    # -- set-up -----------------------------------------------------------------------------

    def _loader(self, split: str) -> DataLoader[Batch]:
        """The split's loader, made once: its workers live as long as the trainer (persistent
        workers), and each epoch's iteration draws the sampler's order anew."""
        if split not in self.loaders:
            self.loaders[split] = batches(
                self.data.crops(self.rows[split]),
                self.recipe.train.batch_size,
                sampler=self.sampler if split == "train" else None,
                num_workers=self.num_workers,
                pin_memory=self.cuda,
                training=split == "train",
            )
        return self.loaders[split]

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
        progress: EpochProgress,
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
            x, y = self.augmented(images, targets, copies)
            w = None if self.sample_weights is None else self.sample_weights[index.to(self.device, non_blocking=True)]
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                loss = self.loss_fn(net(x.contiguous(memory_format=torch.channels_last)), y, w)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(self.scaler.scale(loss))
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

    def augmented(self, images: torch.Tensor, y: torch.Tensor, copies: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """A uint8 host batch as floats in [0, 1] on the device, augmented as a whole (scaled as warped,
        by chunks on a CPU) or only its repeated copies; its targets `y` on the device, points moved."""
        y = y.to(self.device, non_blocking=True)
        if self.augment is not None:
            return self.augment.apply(images.to(self.device, non_blocking=True), y, self.augment_rng)
        x = to_model_input(images, self.device)
        if self.copy_augment is not None and bool(copies.any()):  # `copies` is on the host: no sync
            chosen = copies.nonzero().squeeze(1).to(self.device, non_blocking=True)  # indices, not a mask:
            x[chosen] = self.copy_augment(x[chosen], self.augment_rng)  # a mask on the device would sync
        return x, y

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
        rows = self.rows["val"]
        patients = self.data.table["patient_id"].astype(str).to_numpy()[rows]
        values = {"val_loss": float(self.loss_fn(outputs, targets))}
        landmarks = self.recipe.data.landmarks  # positions are scored in pixels of each image
        points = None if landmarks is None else (self.data.table[["width", "height"]].to_numpy()[rows], landmarks)
        scored = validation_metrics(self.model, self.metrics, self.extra_metrics, outputs, targets, patients, points)
        return values | scored

    # -- the loop ---------------------------------------------------------------------------

    def fit(self, state: State, resume: OptimizerState | None = None) -> State:
        """Train all stages from `state`, checkpointing after every epoch."""
        stages = self.recipe.train.stages
        progress = EpochProgress(enabled=self.dist.main)
        try:
            while state.stage < len(stages):
                stage = stages[state.stage]
                net = self.network(stage.freeze_backbone)
                lr = stage.lr or self.recipe.train.optimizer.lr
                optimizer = build_optimizer(self.model, self.recipe.train.optimizer, lr)
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
                    if self.on_epoch is not None and self.dist.main:
                        self.on_epoch(row)
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
            self.best_state = best = {
                k: v.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
                for k, v in self.model.state_dict().items()
            }
            if self.dist.main:
                atomic_write(self.run.best_weights, lambda p: save_file(best, str(p)))
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
        if self.dist.main:
            write_training_state(self.run, self.model, state, self.history, optimizer)

    def resume(self) -> tuple[State, OptimizerState | None]:
        """Load the run's latest checkpoint: weights, history, the stage's best weights so far;
        return the training state and the optimiser's saved state."""
        resumed = read_training_state(self.run, self.model)
        self.history, self.best_state = resumed.history, resumed.best_state
        return resumed.state, resumed.optimizer


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
