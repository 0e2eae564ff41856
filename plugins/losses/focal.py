"""Focal loss (Lin et al. 2017): cross-entropy down-weighting easy, well-classified samples.

FL = -(1 - p_t)^gamma * log(p_t); gamma = 0 is cross-entropy. Per-sample weights as for
cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .cross_entropy import weighted_mean
from .params import FocalParams


class Focal:
    """`loss(logits, targets, weights=None)`."""

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        log_p = F.log_softmax(outputs.float(), dim=1).gather(1, targets.long().unsqueeze(1)).squeeze(1)
        per_sample = -((1.0 - log_p.exp()) ** self.gamma) * log_p
        return weighted_mean(per_sample, weights)


def build(params: FocalParams, target: str) -> Focal:
    """The `focal` factory."""
    return Focal(params.gamma)
