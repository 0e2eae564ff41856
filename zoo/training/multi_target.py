"""The loss of a multi-target model: each target's own loss on its head's outputs, weighted, summed.

A batch's targets are a (B, T) matrix, one column per target of the model (`ZooModel.targets`
order: the main one first). An extra target's missing labels are NaN: those samples get weight 0
in that target's loss (a weighted mean, as the `Loss` contract says), so they are left out of it,
never filled in; a batch without one label of a target adds nothing for it. The imbalance
strategy's per-sample weights follow the main target's classes and weigh the main target's loss.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.protocols import Loss


class MultiTargetLoss(nn.Module):
    """Sum over targets of weight x that target's loss on its labelled samples."""

    def __init__(self, losses: list[Loss], weights: list[float], widths: tuple[int, ...]) -> None:
        super().__init__()
        if not len(losses) == len(weights) == len(widths):
            raise ValueError("one loss, weight and output width per target")
        self.losses, self.weights, self.widths = losses, weights, list(widths)

    def forward(
        self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = torch.split(outputs, self.widths, dim=1)
        total = self.weights[0] * self.losses[0](parts[0], targets[:, 0], weights)
        for column in range(1, len(self.losses)):
            labels = targets[:, column]
            known = torch.isfinite(labels)  # a mask on the device: no wait for the GPU
            safe = torch.where(known, labels, torch.zeros_like(labels))  # 0 x NaN would still be NaN
            total = total + self.weights[column] * self.losses[column](parts[column], safe, known.float())
        return total
