"""Which registered metrics score a target, built and checked against the `Metric` contract.

Training reads them for its validation values, judging for the final scores with intervals.
"""

from __future__ import annotations

from zoo.compose.registry import ComponentSpec, Registry
from zoo.errors import ZooError
from zoo.protocols import Metric


def applicable_metrics(
    registry: Registry, target: str, tags: set[str], names: list[str] | None = None
) -> list[ComponentSpec]:
    """The metrics for a target whose requirements (`probs`, `cdf`) the predictions meet.

    With `names`, only those (each must exist)."""
    specs = registry.components("metrics") if names is None else [registry.get("metrics", n) for n in names]
    return [spec for spec in specs if (spec.targets is None or target in spec.targets) and spec.requires <= tags]


def build_metric(spec: ComponentSpec) -> Metric:
    """Build a registered metric and check it keeps the `Metric` contract."""
    metric = spec.build()
    if not isinstance(metric, Metric):
        raise ZooError(
            f"{spec.label} of plugin '{spec.plugin}' does not follow zoo.protocols.Metric",
            hint="a metric needs the attributes higher_is_better, counts and needs_every_class (docs/hooks.md)",
        )
    return metric


def build_metrics(registry: Registry, target: str, tags: set[str], names: list[str] | None = None) -> dict[str, Metric]:
    """Every applicable metric (`applicable_metrics`), built, by name."""
    return {spec.name: build_metric(spec) for spec in applicable_metrics(registry, target, tags, names)}
