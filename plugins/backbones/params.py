"""The params of the backbones plugin's components: what a recipe may set, checked before any work."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from zoo.paths import RecipePath

from ..common import Params

MAX_FILTERS = 4096  # per block: 16 times the widest VGG layer
MAX_BLOCKS = 10  # each halves the image: 10 blocks need 1,024 px, the largest image a recipe takes


class ThesisVGGParams(Params):
    """The thesis's CNN: blocks of 3x3 conv + BN + ReLU, each block ending in a 2x2 max pool."""

    filters: list[Annotated[int, Field(ge=1, le=MAX_FILTERS)]] = Field(
        [32, 32, 64, 64, 128, 128],
        min_length=1,
        max_length=MAX_BLOCKS,
        description=f"filters per block, 1 to {MAX_FILTERS} each (the thesis: 32, 32, 64, 64, 128, 128)",
    )
    convs_per_block: int = Field(2, ge=1, le=8, description="3x3 conv layers per block")
    pool_grid: int = Field(
        2, ge=1, le=16, description="the last map is pooled to grid x grid, then flattened (thesis: 2)"
    )


class TimmParams(Params):
    """A timm network used as a feature extractor."""

    pretrained: bool | RecipePath = Field(
        False,
        description=(
            "false (from scratch), true (ImageNet weights from the weights store, an installed weight "
            "package or the hub; see 'zoo weights list'), or the path of a local .safetensors file"
        ),
    )
    drop_rate: float = Field(0.0, ge=0, lt=1, description="dropout before the pooled features")

    @field_validator("pretrained")
    @classmethod
    def _safetensors_only(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and not value.endswith(".safetensors"):
            raise ValueError("pretrained is true, false or the path of a .safetensors file")
        return value


class AnyTimmParams(TimmParams):
    """Any timm model by name."""

    model: str = Field(max_length=200, description="a timm model name, e.g. 'efficientnet_b0'")


class FeaturePyramidParams(TimmParams):
    """A timm network's feature maps at strides 4 to 32, merged top-down (a feature pyramid)."""

    model: str = Field(
        "tf_efficientnet_lite0", max_length=200, description="the timm network whose feature maps are merged"
    )
    channels: int = Field(64, ge=8, le=1024, description="channels of the merged map")
