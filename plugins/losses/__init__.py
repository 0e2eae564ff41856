"""Built-in losses: cross-entropy and the thesis's CRPS."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from zoo_plugins.common import Params

from zoo import hookimpl


class CrossEntropyParams(Params):
    """Cross-entropy over class logits."""

    label_smoothing: float = Field(0.0, ge=0, lt=1)


@hookimpl
def zoo_register_losses(register: Any) -> None:
    """Register cross-entropy and CRPS."""
    register(
        "cross_entropy",
        "zoo_plugins.losses.cross_entropy:build",
        params=CrossEntropyParams,
        description="categorical cross-entropy (per-sample weights for class weighting)",
        requires=["logits"],
        provides=["weighted_loss"],
    )
    register(
        "crps",
        "zoo_plugins.losses.crps:build",
        description="continuous ranked probability score over the 101-step CDF (thesis formula)",
        requires=["cdf"],
        provides=["weighted_loss"],
    )
