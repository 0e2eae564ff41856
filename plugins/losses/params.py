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
