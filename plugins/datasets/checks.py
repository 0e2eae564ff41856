"""The datasets' recipe check: every target the recipe names can be learned from the labels the
dataset gives, as its params say (checked at `zoo validate`, before any data is read)."""

from __future__ import annotations

from zoo.protocols import CheckedRecipe
from zoo.targets import TARGETS


def given_scales(dataset: str, params: dict[str, object]) -> list[str] | None:
    """The label scales scqm or manifest gives with these params (None: another dataset)."""
    if dataset == "scqm":  # its joint columns are eroded percentages
        return ["percent", *(["svdh_jsn"] if params.get("jsn_prefix") is not None else [])]
    if dataset == "manifest":
        scale = str(params.get("label_scale", "percent"))
        return [scale, *(["svdh_jsn"] if params.get("jsn_column") is not None else [])]
    return None


def unreachable_targets(recipe: CheckedRecipe, scales: list[str]) -> list[tuple[str, str]]:
    """One problem per target of the recipe that none of the label scales `scales` reaches."""
    problems = []
    reachable = sorted({t for scale in scales for t in TARGETS[scale].reachable})
    for target in recipe.targets:
        if target in reachable:
            continue
        where = "data.target" if target == recipe.data.target else f"extra_targets.{target}"
        problems.append(
            (
                where,
                f"dataset '{recipe.data.dataset.name}' gives {', '.join(scales)} labels, none of which can become "
                f"target '{target}' (it can label: {', '.join(reachable)})",
            )
        )
    return problems


def labels_reach_targets(recipe: CheckedRecipe, registry: object) -> list[tuple[str, str]]:
    """scqm and manifest: each target of the recipe can be learned from the labels they give."""
    dataset = recipe.data.dataset
    scales = given_scales(dataset.name, dict(dataset.params))
    return [] if scales is None else unreachable_targets(recipe, scales)
