"""The thesis's three ways to handle rare classes (section 4.2.1, models a, b, c).

A strategy gives the trainer an epoch sampler (or None: a plain shuffle) and class weights (or
None). Classes are the Ratingen stages (0/1 for binary targets).
- `none`: the data as it is.
- `oversample`: each epoch draws every class as often as the largest class: all samples once,
  plus random repeats of the smaller classes. Repeats are returned as `index + N` so the trainer
  augments them (the thesis's oversampled images were augmentations).
- `class_weights`: weight_c = N / (K n_c) over the K classes present (scikit-learn's "balanced",
  as the thesis's code computed), so weight_c * n_c is the same for every class.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class EpochOversampler:
    """Per-epoch sample order with the smaller classes repeated up to the largest."""

    def __init__(self, classes: np.ndarray, seed: int, mark_copies: bool) -> None:
        self.classes = np.asarray(classes)
        self.seed = seed
        self.mark_copies = mark_copies

    def __len__(self) -> int:
        counts = np.bincount(self.classes)
        return int(counts.max() * np.count_nonzero(counts))

    def indices(self, epoch: int) -> np.ndarray:
        """The epoch's order; repeats are offset by N when they should be augmented."""
        rng = np.random.default_rng([self.seed, 11, epoch])
        n = len(self.classes)
        counts = np.bincount(self.classes)
        parts = []
        for cls in np.flatnonzero(counts):
            members = np.flatnonzero(self.classes == cls)
            extra = rng.choice(members, counts.max() - len(members), replace=True)
            parts += [members, extra + n if self.mark_copies else extra]
        order = np.concatenate(parts)
        rng.shuffle(order)
        return order


class Strategy:
    """What the trainer asks of an imbalance strategy."""

    def __init__(self, oversample: bool = False, augment_copies: bool = False, weighted: bool = False) -> None:
        self.oversample = oversample
        self.augment_copies = augment_copies
        self.weighted = weighted

    def sampler(self, classes: np.ndarray, seed: int) -> EpochOversampler | None:
        """An epoch sampler over the training samples, or None for a plain shuffle."""
        return EpochOversampler(classes, seed, self.augment_copies) if self.oversample else None

    def class_weights(self, classes: np.ndarray, n_classes: int) -> np.ndarray | None:
        """One loss weight per class, or None."""
        if not self.weighted:
            return None
        counts = np.bincount(np.asarray(classes), minlength=n_classes).astype(float)
        present = counts > 0
        weights = np.zeros(n_classes)
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights


def build_none(params: Any) -> Strategy:
    """`none`."""
    return Strategy()


def build_oversample(params: Any) -> Strategy:
    """`oversample`."""
    return Strategy(oversample=True, augment_copies=params.augment)


def build_class_weights(params: Any) -> Strategy:
    """`class_weights`."""
    return Strategy(weighted=True)
