"""Built-in imbalance strategies: none, oversampling, class weights (the thesis's a, b, c)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from zoo_plugins.common import Params

from zoo import hookimpl


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


@hookimpl
def zoo_register_imbalance(register: Any) -> None:
    """Register none, oversample, class_balanced and class_weights."""
    register(
        "none",
        "zoo_plugins.imbalance.strategies:build_none",
        description="train on the data as it is (the thesis's model a)",
    )
    register(
        "oversample",
        "zoo_plugins.imbalance.strategies:build_oversample",
        params=OversampleParams,
        description="oversample minority classes to about equal counts per epoch (model b)",
    )
    register(
        "class_balanced",
        "zoo_plugins.imbalance.strategies:build_class_balanced",
        params=ClassBalancedParams,
        description="draw every class per_class times per epoch (subsample large, repeat small classes)",
    )
    register(
        "class_weights",
        "zoo_plugins.imbalance.strategies:build_class_weights",
        description="weight the loss so weight * count is equal for all classes (model c)",
        requires=["weighted_loss"],
    )
