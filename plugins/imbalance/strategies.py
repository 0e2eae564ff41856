"""The thesis's three ways to handle rare classes (section 4.2.1, models a, b, c).

A strategy gives the trainer an epoch sampler (or None: a plain shuffle) and class weights (or
None). Classes are the Ratingen stages (0/1 for binary targets).
- `none`: the data as it is.
- `oversample`: each epoch draws every class as often as the largest class (or, with `ratio`
  below 1, at least that share of the largest class's count): all samples once, plus random
  repeats of the smaller classes. Repeats are flagged in the epoch's draw so the trainer
  augments them (the thesis's oversampled images were augmentations).
- `class_balanced`: each epoch draws every class `per_class` times: a fresh random subset of
  each larger class, all of each smaller one plus augmented repeats. Epochs have a fixed length
  however large the data, so a large dataset lends its rare cases without longer training.
- `class_weights`: weight_c = N / (K n_c) over the K classes present (scikit-learn's "balanced",
  as the thesis's code computed), so weight_c * n_c is the same for every class.
"""

from __future__ import annotations

import math

import numpy as np

from zoo.protocols import EpochDraw

from .params import ClassBalancedParams, OversampleParams


def with_repeats(members: np.ndarray, total: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All `members`, then random repeats up to `total`; and which of them are repeats."""
    extra = rng.choice(members, total - len(members), replace=True)
    return np.concatenate([members, extra]), np.arange(total) >= len(members)


def shuffled(parts: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, mark_copies: bool) -> EpochDraw:
    """The parts' draws in one random order; repeats flagged only when they should be augmented."""
    indices = np.concatenate([part[0] for part in parts]).astype(np.int64)
    copies = np.concatenate([part[1] for part in parts]) & mark_copies
    order = rng.permutation(len(indices))
    return EpochDraw(indices[order], copies[order])


class EpochOversampler:
    """Per-epoch sample order with the smaller classes repeated up to `ratio` x the largest."""

    def __init__(self, classes: np.ndarray, seed: int, mark_copies: bool, ratio: float = 1.0) -> None:
        self.classes = np.asarray(classes)
        self.seed = seed
        self.mark_copies = mark_copies
        self.ratio = ratio

    def _targets(self) -> np.ndarray:
        """How often each class is drawn per epoch: at least its own count."""
        counts = np.bincount(self.classes)
        goal = math.ceil(round(self.ratio * counts.max(), 9))  # 0.07 * 100 is 7, not 8
        return np.where(counts > 0, np.maximum(counts, goal), 0)

    def __len__(self) -> int:
        return int(self._targets().sum())

    def draw(self, epoch: int) -> EpochDraw:
        """The epoch's order, repeats flagged when they should be augmented."""
        rng = np.random.default_rng([self.seed, 11, epoch])
        targets = self._targets()
        parts = []
        for cls in np.flatnonzero(targets):
            members = np.flatnonzero(self.classes == cls)
            parts.append(with_repeats(members, int(targets[cls]), rng))
        return shuffled(parts, rng, self.mark_copies)


class EpochBalancedSampler:
    """Per-epoch sample order with every class drawn `per_class` times.

    Larger classes give a fresh random subset each epoch (no repeats); smaller ones are all drawn,
    then repeated at random, and the repeats are flagged when they should be augmented.
    """

    def __init__(self, classes: np.ndarray, seed: int, mark_copies: bool, per_class: int) -> None:
        self.classes = np.asarray(classes)
        self.seed = seed
        self.mark_copies = mark_copies
        self.per_class = per_class

    def __len__(self) -> int:
        return int(np.count_nonzero(np.bincount(self.classes)) * self.per_class)

    def draw(self, epoch: int) -> EpochDraw:
        """The epoch's order, repeats flagged when they should be augmented."""
        rng = np.random.default_rng([self.seed, 12, epoch])
        parts = []
        for cls in np.flatnonzero(np.bincount(self.classes)):
            members = rng.permutation(np.flatnonzero(self.classes == cls))
            if len(members) >= self.per_class:
                parts.append((members[: self.per_class], np.zeros(self.per_class, dtype=bool)))
                continue
            parts.append(with_repeats(members, self.per_class, rng))
        return shuffled(parts, rng, self.mark_copies)


class Strategy:
    """What the trainer asks of an imbalance strategy."""

    def __init__(
        self,
        oversample: bool = False,
        augment_copies: bool = False,
        weighted: bool = False,
        ratio: float = 1.0,
        per_class: int | None = None,
    ) -> None:
        self.oversample = oversample
        self.ratio = ratio
        self.per_class = per_class
        self.augment_copies = augment_copies
        self.weighted = weighted

    def sampler(self, classes: np.ndarray, seed: int) -> EpochOversampler | EpochBalancedSampler | None:
        """An epoch sampler over the training samples, or None for a plain shuffle."""
        if self.per_class is not None:
            return EpochBalancedSampler(classes, seed, self.augment_copies, self.per_class)
        return EpochOversampler(classes, seed, self.augment_copies, self.ratio) if self.oversample else None

    def class_weights(self, classes: np.ndarray, n_classes: int) -> np.ndarray | None:
        """One loss weight per class, or None."""
        if not self.weighted:
            return None
        counts = np.bincount(np.asarray(classes), minlength=n_classes).astype(float)
        present = counts > 0
        weights = np.zeros(n_classes)
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights


def build_none(params: object) -> Strategy:
    """`none`."""
    return Strategy()


def build_oversample(params: OversampleParams) -> Strategy:
    """`oversample`."""
    return Strategy(oversample=True, augment_copies=params.augment, ratio=params.ratio)


def build_class_weights(params: object) -> Strategy:
    """`class_weights`."""
    return Strategy(weighted=True)


def build_class_balanced(params: ClassBalancedParams) -> Strategy:
    """`class_balanced`."""
    return Strategy(augment_copies=params.augment, per_class=params.per_class)
