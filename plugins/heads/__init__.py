"""Built-in heads: softmax over Ratingen stages (or binary classes), the thesis's CDF head, CORAL, and the
heatmap head of locators."""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import RegisterComponent


@hookimpl
def zoo_register_heads(register: RegisterComponent) -> None:
    """Register the softmax, CDF, CORAL and heatmap heads."""
    register(
        "softmax",
        "zoo_plugins.heads.softmax:build",
        params="zoo_plugins.heads.params:DenseHeadParams",
        description="dense layers then softmax over classes (6 Ratingen stages, 2, or an SvdH score's grades)",
        targets=["stage", "binary", "svdh_erosion", "svdh_jsn"],
        provides=["logits", "probs", "scalable", "averageable"],
    )
    register(
        "cdf",
        "zoo_plugins.heads.cdf:build",
        params="zoo_plugins.heads.params:CDFParams",
        description="dense layers then 101 sigmoids P(y <= k), k = 0..100 (thesis regression)",
        targets=["percent"],
        provides=["cdf", "probs", "scalable", "averageable"],
    )
    register(
        "coral",
        "zoo_plugins.heads.coral:build",
        params="zoo_plugins.heads.params:DenseHeadParams",
        description="ordinal head for graded targets: shared weights, ordered thresholds (CORAL)",
        targets=["stage", "svdh_erosion", "svdh_jsn"],
        provides=["coral", "probs", "scalable", "averageable"],
    )
    register(
        "heatmap",
        "zoo_plugins.heads.heatmap:build",
        params="zoo_plugins.heads.params:HeatmapParams",
        description="one heatmap per landmark on a feature map, read out to a sub-pixel peak and its confidence",
        targets=["landmarks"],
        requires=["feature_map"],
        provides=["heatmap", "points"],
    )
