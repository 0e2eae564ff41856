"""What training hands judging: a trained run as a value, with nothing of the trainer in it.

Training ends by saving the model into its run folder and computing the model's raw outputs on
every split judging needs; `judging.results.judge` takes this value alone, so judging never
imports training and a run can be judged from anything that fills it in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from zoo.protocols import Model
from zoo.runs import Ensemble, Env, RunFolder, Training

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class SplitOutputs:
    """One split: its samples, their labels on the run's target, and the model's raw outputs, row by row."""

    samples: pd.DataFrame  # the sample table's rows: sample_id, patient_id, and what else the dataset gave
    targets: np.ndarray  # float (N,)
    outputs: torch.Tensor  # (N, ...) float32, on the CPU (a multi-target model's: every head's, side by side)
    extra_targets: dict[str, np.ndarray] = field(default_factory=dict)  # each extra target's labels, NaN: none


@dataclass(frozen=True)
class ExtraTarget:
    """An extra target of a multi-target run: its label scale, the fingerprint of its labelled
    samples (as a single-target run of it would have), the training split's labels (NaN: none)."""

    scale: str
    fingerprint: str
    train_targets: np.ndarray


@dataclass(frozen=True)
class TrainedRun:
    """A trained model in its run folder, with what judging needs to score it."""

    folder: RunFolder
    model: Model
    target: str  # the recipe's target
    scale: str  # the scale the dataset labels on (a `true_<scale>` column holds the truth where known)
    splits: dict[str, SplitOutputs]  # every split judging may read that has patients
    empty_splits: list[str]  # evaluated splits without patients (not judged)
    train_targets: np.ndarray  # the training split's labels, for the trivial baselines
    fingerprint: str  # the labelled samples' sha256 (`zoo.data.prepare.Prepared.fingerprint`)
    history: list[dict[str, float]]  # one row per epoch, as history.csv
    training: Training  # metrics.json's "training": epochs, seconds, params, image size, device, weights
    env: Env  # env.json: versions, git sha, device
    extra_targets: dict[str, ExtraTarget] = field(default_factory=dict)  # a multi-target run's other targets
    ensemble: Ensemble | None = None  # an ensemble's members (`zoo ensemble`; its training: theirs, summed)
