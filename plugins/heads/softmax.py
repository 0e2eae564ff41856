"""The thesis's classification head: dense layers, then softmax over the classes.

6 classes for Ratingen stages, 2 for binary. Outputs are logits; `predict` gives the class
probabilities `p_0..p_{n-1}` and the most probable class.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.targets import TARGETS

from .dense import dense_stack
from .params import DenseHeadParams


class SoftmaxHead(nn.Module):
    """Features (B, F) to class logits (B, n)."""

    outputs = frozenset({"pred", "probs"})

    def __init__(self, in_features: int, target: str, hidden: list[int], dropout: float) -> None:
        super().__init__()
        classes = TARGETS[target].classes
        if classes is None:
            raise ValueError(f"the softmax head needs a target with classes, not '{target}'")
        self.dense, width = dense_stack(in_features, hidden, dropout)
        self.out = nn.Linear(width, classes)
        self.classes = classes
        self.target = target

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.out(self.dense(features))
        return logits

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (for t-SNE and nearest neighbours)."""
        hidden: torch.Tensor = self.dense(features)
        return hidden

    def severity(self, outputs: torch.Tensor) -> torch.Tensor:
        """The expected class (differentiable; what attention maps explain)."""
        probs = torch.softmax(outputs.float(), dim=1)
        return (probs * torch.arange(self.classes, device=outputs.device)).sum(dim=1)

    def average(self, outputs: torch.Tensor) -> torch.Tensor:
        """Logits of M passes (M, B, n) to log mean probabilities (B, n): logits of the mean."""
        return torch.log(torch.softmax(outputs.float(), dim=2).mean(dim=0).clamp(min=1e-12))

    def scale(self, outputs: torch.Tensor, temperature: float) -> torch.Tensor:
        """Logits divided by the temperature."""
        return outputs / temperature

    @torch.no_grad()
    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """`probs` (B, n) and `pred` (B,) the most probable class."""
        probs = torch.softmax(outputs.float(), dim=1)
        return {"probs": probs, "pred": probs.argmax(dim=1).float()}


def build(params: DenseHeadParams, in_features: int, target: str) -> SoftmaxHead:
    """The `softmax` factory."""
    return SoftmaxHead(in_features, target, list(params.hidden), params.dropout)
