"""The thesis's CRPS over the 101-step CDF (thesis section 4.2.2).

CRPS = 1 / (101 N) * sum_n sum_{k=0..100} (P_n(y <= k) - H(k - R_n))^2, H(x) = 1 for x >= 0,
where R_n is the true percentage. With per-sample weights, each sample's CRPS is weighted.
"""

from __future__ import annotations

import torch

from .cross_entropy import weighted_mean

STEPS = torch.arange(101, dtype=torch.float32)


def step_cdf(targets: torch.Tensor) -> torch.Tensor:
    """H(k - R) for k = 0..100: the CDF of a point mass at each target (B, 101)."""
    return (STEPS.to(targets.device) >= targets.float().unsqueeze(1)).float()


class CRPS:
    """`loss(cdf, targets, weights=None)`."""

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        per_sample = ((outputs.float() - step_cdf(targets)) ** 2).mean(dim=1)
        return weighted_mean(per_sample, weights)


def build(params: object, target: str) -> CRPS:
    """The `crps` factory."""
    return CRPS()
