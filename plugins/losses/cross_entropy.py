"""Cross-entropy over class logits, optionally weighted per sample (class weighting).

With weights w the loss is sum(w_i * CE_i) / sum(w_i), so class weights change the balance
between classes, not the size of the gradient steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .params import CrossEntropyParams


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-sample values, weighted when weights are given."""
    if weights is None:
        return values.mean()
    return (values * weights).sum() / weights.sum().clamp(min=1e-12)


class CrossEntropy:
    """`loss(logits, targets, weights=None)`; targets are class indices as floats."""

    def __init__(self, label_smoothing: float) -> None:
        self.label_smoothing = label_smoothing

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        per_sample = F.cross_entropy(
            outputs.float(), targets.long(), reduction="none", label_smoothing=self.label_smoothing
        )
        return weighted_mean(per_sample, weights)


def build(params: CrossEntropyParams, target: str) -> CrossEntropy:
    """The `cross_entropy` factory."""
    return CrossEntropy(params.label_smoothing)
