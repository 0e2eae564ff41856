"""The params of the heads plugin's components: what a recipe may set, checked before any work."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..common import Params


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


class HeatmapParams(Params):
    """A heatmap per point on the backbone's feature map."""

    hidden: int = Field(64, ge=1, le=4096, description="channels of the 3x3 convolution before the heatmaps")
    window: int = Field(
        2, ge=1, le=8, description="the sub-pixel read-out's half-width around the peak, in heatmap cells"
    )
