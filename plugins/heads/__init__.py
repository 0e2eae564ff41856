"""Built-in heads: softmax over Ratingen stages (or binary classes) and the thesis's CDF head."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from zoo_plugins.common import Params

from zoo import hookimpl


class DenseHeadParams(Params):
    """Dense layers (BN, ReLU, dropout) before the output layer."""

    hidden: list[Annotated[int, Field(ge=1, le=65_536)]] = Field(
        [512, 256], max_length=16, description="units of each dense layer (1 to 65,536 each)"
    )
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout after each dense layer")


class CDFParams(DenseHeadParams):
    """The CDF head's dense layers and how it keeps the CDF monotone."""

    monotone: Literal["repair", "enforce"] = Field(
        "repair",
        description="repair: 101 sigmoids (thesis), repaired by a running maximum at prediction; "
        "enforce: cumulative softmax, monotone by construction",
    )


@hookimpl
def zoo_register_heads(register: Any) -> None:
    """Register the softmax and CDF heads."""
    register(
        "softmax",
        "zoo_plugins.heads.softmax:build",
        params=DenseHeadParams,
        description="dense layers then softmax over classes (6 Ratingen stages or 2)",
        targets=["stage", "binary"],
        provides=["logits"],
    )
    register(
        "cdf",
        "zoo_plugins.heads.cdf:build",
        params=CDFParams,
        description="dense layers then 101 sigmoids P(y <= k), k = 0..100 (thesis regression)",
        targets=["percent"],
        provides=["cdf"],
    )
    register(
        "coral",
        "zoo_plugins.heads.coral:build",
        params=DenseHeadParams,
        description="ordinal head for stages: shared weights, 5 ordered thresholds (CORAL)",
        targets=["stage"],
        provides=["coral"],
    )
