"""Built-in imbalance strategies: none, oversampling, class weights (the thesis's a, b, c)."""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import RegisterComponent

# The targets with classes to balance (a landmarks target has none).
CLASSES = ["percent", "stage", "binary", "svdh_erosion", "svdh_jsn"]


@hookimpl
def zoo_register_imbalance(register: RegisterComponent) -> None:
    """Register none, oversample, class_balanced and class_weights."""
    register(
        "none",
        "zoo_plugins.imbalance.strategies:build_none",
        description="train on the data as it is (the thesis's model a)",
    )
    register(
        "oversample",
        "zoo_plugins.imbalance.strategies:build_oversample",
        params="zoo_plugins.imbalance.params:OversampleParams",
        description="oversample minority classes to about equal counts per epoch (model b)",
        targets=CLASSES,
    )
    register(
        "class_balanced",
        "zoo_plugins.imbalance.strategies:build_class_balanced",
        params="zoo_plugins.imbalance.params:ClassBalancedParams",
        description="draw every class per_class times per epoch (subsample large, repeat small classes)",
        targets=CLASSES,
    )
    register(
        "class_weights",
        "zoo_plugins.imbalance.strategies:build_class_weights",
        description="weight the loss so weight * count is equal for all classes (model c)",
        targets=CLASSES,
        requires=["weighted_loss"],
    )
