"""The learning rate within a training stage."""

from __future__ import annotations

import math
from collections.abc import Callable


def schedule(name: str, lr: float, epochs: int, epoch: int) -> Callable[[float], float] | None:
    """The learning rate within epoch `epoch` of a stage of `epochs` (None: constant `lr`).

    `cosine` decays from `lr` at the stage's start to zero at its end, step by step, so that a
    resumed run continues on the same curve (it depends only on where training stands).
    """
    if name == "constant":
        return None
    return lambda fraction: 0.5 * lr * (1.0 + math.cos(math.pi * (epoch + fraction) / epochs))
