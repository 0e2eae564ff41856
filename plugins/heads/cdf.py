"""The thesis's regression head: 101 outputs, the CDF P(y <= k) of the eroded percent, k = 0..100.

`monotone: repair` (the thesis): 101 independent sigmoids, trained with CRPS; a CDF that comes
out non-monotone is repaired at prediction by a running maximum (and P(y <= 100) = 1).
`monotone: enforce`: the outputs are the cumulative sum of a softmax over the 101 values, so
the CDF is monotone by construction.

`predict` gives the repaired CDF, the expected percent, the median, an 80 % interval (the 10th
and 90th percentiles) and the implied Ratingen stage probabilities:
P(stage 0) = F(0), P(stage s) = F(20 s) - F(20 (s - 1)) for s = 1..5; `pred` is the expected
percent and `stage` the most probable stage.
"""

from __future__ import annotations

import torch
from torch import nn

from .dense import dense_stack
from .params import CDFParams

STEPS = 101
STAGE_EDGES = (0, 20, 40, 60, 80, 100)


class CDFHead(nn.Module):
    """Features (B, F) to the 101 values of the CDF (B, 101)."""

    target = "percent"
    outputs = frozenset({"pred", "cdf", "median", "lower", "upper", "probs", "stage"})

    def __init__(self, in_features: int, hidden: list[int], dropout: float, monotone: str) -> None:
        super().__init__()
        self.dense, width = dense_stack(in_features, hidden, dropout)
        self.out = nn.Linear(width, STEPS)
        self.monotone = monotone

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.out(self.dense(features))
        if self.monotone == "enforce":
            return torch.cumsum(torch.softmax(logits.float(), dim=1), dim=1).clamp(0.0, 1.0)
        return torch.sigmoid(logits)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (for t-SNE and nearest neighbours)."""
        hidden: torch.Tensor = self.dense(features)
        return hidden

    def severity(self, outputs: torch.Tensor) -> torch.Tensor:
        """The expected percent (differentiable; what attention maps explain)."""
        return (1.0 - outputs.float()[:, :-1]).sum(dim=1)

    def average(self, outputs: torch.Tensor) -> torch.Tensor:
        """CDFs of M passes (M, B, 101) to their mean (repaired at prediction, as one pass's)."""
        return outputs.float().mean(dim=0)

    def scale(self, outputs: torch.Tensor, temperature: float) -> torch.Tensor:
        """The CDF's logits divided by the temperature: the median stays, the intervals narrow
        (below 1) or widen (above 1); monotone, so a repaired CDF stays repaired."""
        cdf = outputs.float().clamp(1e-6, 1.0 - 1e-6)
        return torch.sigmoid(torch.logit(cdf) / temperature)

    @torch.no_grad()
    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """CDF, expected percent, median, 80 % interval and stage probabilities."""
        return summarise_cdf(outputs)


def repair(cdf: torch.Tensor) -> torch.Tensor:
    """A monotone CDF: running maximum over k, and P(y <= 100) = 1.

    The running maximum is a masked max over a lower-triangular mask (not `cummax`), so that the
    prediction step exports to ONNX.
    """
    values = cdf.float().clamp(0.0, 1.0)
    steps = values.shape[1]
    earlier = torch.ones(steps, steps, dtype=torch.bool, device=cdf.device).tril()
    fixed = torch.where(earlier, values.unsqueeze(1), torch.zeros((), device=cdf.device)).amax(dim=2)
    last = torch.arange(steps, device=cdf.device) == steps - 1
    return torch.where(last, torch.ones((), device=cdf.device), fixed)


def quantile(cdf: torch.Tensor, level: float) -> torch.Tensor:
    """The smallest k with F(k) >= level."""
    return (cdf < level).sum(dim=1).clamp(max=STEPS - 1).float()


def summarise_cdf(outputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Everything a user reads off a predicted CDF."""
    cdf = repair(outputs)
    expected = (1.0 - cdf[:, :-1]).sum(dim=1)
    edges = cdf[:, list(STAGE_EDGES)]
    stage_probs = torch.cat([edges[:, :1], edges[:, 1:] - edges[:, :-1]], dim=1)
    return {
        "cdf": cdf,
        "pred": expected,
        "median": quantile(cdf, 0.5),
        "lower": quantile(cdf, 0.1),
        "upper": quantile(cdf, 0.9),
        "probs": stage_probs,
        "stage": stage_probs.argmax(dim=1).float(),
    }


def build(params: CDFParams, in_features: int, target: str) -> CDFHead:
    """The `cdf` factory."""
    return CDFHead(in_features, list(params.hidden), params.dropout, params.monotone)
