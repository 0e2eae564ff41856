"""Built-in losses: cross-entropy and CRPS (the thesis), focal and CORAL (beyond it), and the heatmap loss of
locators."""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import RegisterComponent


@hookimpl
def zoo_register_losses(register: RegisterComponent) -> None:
    """Register cross-entropy, CRPS, focal, CORAL and heatmap."""
    register(
        "cross_entropy",
        "zoo_plugins.losses.cross_entropy:build",
        params="zoo_plugins.losses.params:CrossEntropyParams",
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
    register(
        "focal",
        "zoo_plugins.losses.focal:build",
        params="zoo_plugins.losses.params:FocalParams",
        description="focal loss: cross-entropy that down-weights easy samples (Lin et al. 2017)",
        requires=["logits"],
        provides=["weighted_loss"],
    )
    register(
        "coral",
        "zoo_plugins.losses.coral:build",
        description="the CORAL loss for the ordinal coral head",
        requires=["coral"],
        provides=["weighted_loss"],
    )
    register(
        "heatmap",
        "zoo_plugins.losses.heatmap:build",
        params="zoo_plugins.losses.params:HeatmapLossParams",
        description="cross-entropy of each landmark's heatmap to a Gaussian at the point, plus an L1 position term",
        targets=["landmarks"],
        requires=["heatmap"],
        provides=["weighted_loss"],
    )
