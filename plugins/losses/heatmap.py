"""The heatmap loss of locators: cross-entropy to a Gaussian at each point, plus a position term.

Each point's target is a normalised Gaussian over the heatmap's cells, centred on the true
position with standard deviation `sigma` cells; the loss is the cross-entropy from the softmax of
the point's logits to it (a distribution to a distribution: sharper than a regression of heatmap
values, and indifferent to how many cells the map has). `position_weight` adds the L1 distance,
in cells, from the map's expected position (its soft-argmax) to the truth, which pulls the whole
distribution towards the point rather than only its peak. A point the augmentation pushed out of
the image (outside [0, 1]) adds nothing. Per-sample weights weight each image's mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .cross_entropy import weighted_mean
from .params import HeatmapLossParams


class HeatmapLoss:
    """`loss(logits (B, K, h, w), points (B, K, 2) in unit coordinates, weights=None)`."""

    def __init__(self, sigma: float, position_weight: float) -> None:
        self.sigma = sigma
        self.position_weight = position_weight

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        logits = outputs.float()
        height, width = logits.shape[-2:]
        cells_x = torch.arange(width, device=logits.device, dtype=logits.dtype) + 0.5
        cells_y = torch.arange(height, device=logits.device, dtype=logits.dtype) + 0.5
        x, y = targets[..., 0:1].float() * width, targets[..., 1:2].float() * height  # (B, K, 1) in cells
        gauss_x = torch.exp(-0.5 * ((cells_x - x) / self.sigma) ** 2)  # (B, K, w)
        gauss_y = torch.exp(-0.5 * ((cells_y - y) / self.sigma) ** 2)  # (B, K, h)
        target = gauss_y[..., :, None] * gauss_x[..., None, :]
        target = target / target.sum(dim=(2, 3), keepdim=True).clamp_min(1e-12)
        log_probs = F.log_softmax(logits.flatten(2), dim=2).view_as(logits)
        per_point = -(target * log_probs).sum(dim=(2, 3))  # (B, K)
        if self.position_weight > 0:
            probs = log_probs.exp()
            expected_x = (probs.sum(dim=2) * cells_x).sum(dim=2)
            expected_y = (probs.sum(dim=3) * cells_y).sum(dim=2)
            distance = (expected_x - x[..., 0]).abs() + (expected_y - y[..., 0]).abs()
            per_point = per_point + self.position_weight * distance
        inside = ((targets >= 0) & (targets <= 1)).all(dim=2).float()
        per_image = (per_point * inside).sum(dim=1) / inside.sum(dim=1).clamp_min(1.0)
        return weighted_mean(per_image, weights)


def build(params: HeatmapLossParams, target: str) -> HeatmapLoss:
    """The `heatmap` factory."""
    return HeatmapLoss(params.sigma, params.position_weight)
