"""The phantom's recipe check: its labels are eroded percentages and JSN grades."""

from __future__ import annotations

from zoo.protocols import CheckedRecipe

from ..datasets.checks import unreachable_targets

SCALES = ["percent", "svdh_jsn"]  # what every phantom joint is labelled with


def phantom_labels(recipe: CheckedRecipe, registry: object) -> list[tuple[str, str]]:
    """Each target of a phantom recipe can be learned from the phantom's labels."""
    if recipe.data.dataset.name != "phantom":
        return []
    return unreachable_targets(recipe, SCALES)
