"""The order of each epoch's training samples, shared out among the DDP processes."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from zoo.data.loader import Item
from zoo.protocols import EpochSampler as StrategySampler
from zoo.training.device import Distributed


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
