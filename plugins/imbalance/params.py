"""The params of the imbalance plugin's components: what a recipe may set, checked before any work."""

from __future__ import annotations

from pydantic import Field

from ..common import Params


class OversampleParams(Params):
    """Draw minority classes more often, with augmentation, until classes are about equal."""

    augment: bool = Field(True, description="augment the repeated samples (the thesis did)")
    ratio: float = Field(
        1.0,
        gt=0,
        le=1,
        description="raise each smaller class to this share of the largest class's count per epoch (1: equal)",
    )


class ClassBalancedParams(Params):
    """Draw every class equally often per epoch: subsets of large classes, repeats of small ones."""

    per_class: int = Field(ge=1, le=10_000_000, description="samples drawn from each class per epoch")
    augment: bool = Field(True, description="augment the repeated samples")
