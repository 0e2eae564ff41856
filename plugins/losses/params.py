"""The params of the losses plugin's components: what a recipe may set, checked before any work."""

from __future__ import annotations

from pydantic import Field

from ..common import Params


class CrossEntropyParams(Params):
    """Cross-entropy over class logits."""

    label_smoothing: float = Field(0.0, ge=0, lt=1)


class FocalParams(Params):
    """Focal loss."""

    gamma: float = Field(
        2.0, ge=0, le=20, allow_inf_nan=False, description="focusing strength (0 to 20); 0 is cross-entropy"
    )


class HeatmapLossParams(Params):
    """Cross-entropy to a Gaussian per point, plus a small pull of the expected position to the truth."""

    sigma: float = Field(1.5, gt=0, le=16, description="the Gaussian's standard deviation, in heatmap cells")
    position_weight: float = Field(
        0.04, ge=0, le=10, description="weight of the L1 distance (in cells) of the map's expected position"
    )
