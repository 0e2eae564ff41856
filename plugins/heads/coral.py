"""An ordinal head for Ratingen stages (CORAL, Cao, Mirjalili and Raschka 2020).

One shared weight vector and K-1 ordered thresholds: output k is the logit of P(stage > k).
Sharing the weights keeps the K-1 binary tasks rank-consistent. `predict` gives the stage
probabilities P(stage = s) = P(> s - 1) - P(> s) (negative differences, rare, are clipped and
the rest renormalised) and the predicted stage, the number of P(stage > k) above 0.5.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.targets import TARGETS

from .dense import dense_stack
from .params import DenseHeadParams


class CoralHead(nn.Module):
    """Features (B, F) to K-1 cumulative logits (B, K-1)."""

    outputs = frozenset({"pred", "probs"})

    def __init__(self, in_features: int, target: str, hidden: list[int], dropout: float) -> None:
        super().__init__()
        classes = TARGETS[target].classes
        if classes is None:
            raise ValueError(f"the coral head needs a target with classes, not '{target}'")
        self.target = target
        self.dense, width = dense_stack(in_features, hidden, dropout)
        self.score = nn.Linear(width, 1, bias=False)
        self.thresholds = nn.Parameter(torch.linspace(1.0, -1.0, classes - 1))
        self.classes = classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        score: torch.Tensor = self.score(self.dense(features))
        return score + self.thresholds

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (for t-SNE and nearest neighbours)."""
        hidden: torch.Tensor = self.dense(features)
        return hidden

    def severity(self, outputs: torch.Tensor) -> torch.Tensor:
        """The expected stage, the sum of P(stage > k) (differentiable; what attention maps explain)."""
        return torch.sigmoid(outputs.float()).sum(dim=1)

    def average(self, outputs: torch.Tensor) -> torch.Tensor:
        """Cumulative logits of M passes (M, B, K-1) to the logits of the mean P(stage > k)."""
        return torch.logit(torch.sigmoid(outputs.float()).mean(dim=0), eps=1e-6)

    def scale(self, outputs: torch.Tensor, temperature: float) -> torch.Tensor:
        """Cumulative logits divided by the temperature."""
        return outputs / temperature

    @torch.no_grad()
    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """`probs` (B, K) and `pred` (B,)."""
        above = torch.sigmoid(outputs.float())
        ones = torch.ones_like(above[:, :1])
        zeros = torch.zeros_like(above[:, :1])
        probs = (torch.cat([ones, above], dim=1) - torch.cat([above, zeros], dim=1)).clamp(min=0.0)
        probs = probs / probs.sum(dim=1, keepdim=True).clamp(min=1e-8)
        return {"probs": probs, "pred": (above > 0.5).sum(dim=1).float()}


def build(params: DenseHeadParams, in_features: int, target: str) -> CoralHead:
    """The `coral` factory."""
    return CoralHead(in_features, target, list(params.hidden), params.dropout)
