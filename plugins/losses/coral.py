"""The CORAL loss: binary cross-entropy of each "stage > k" task, summed over k."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .cross_entropy import weighted_mean


class CoralLoss:
    """`loss(cumulative_logits, targets, weights=None)`; targets are stages as floats."""

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        levels = torch.arange(outputs.shape[1], device=outputs.device)
        above = (targets.long().unsqueeze(1) > levels).float()
        per_sample = F.binary_cross_entropy_with_logits(outputs.float(), above, reduction="none").sum(dim=1)
        return weighted_mean(per_sample, weights)


def build(params: object, target: str) -> CoralLoss:
    """The `coral` factory."""
    return CoralLoss()
