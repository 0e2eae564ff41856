"""Built-in backbones: the thesis's VGG-style CNN and timm networks (InceptionV3, ResNets, any)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from zoo_plugins.common import Params

from zoo import hookimpl


class ThesisVGGParams(Params):
    """The thesis's CNN: blocks of 3x3 conv + BN + ReLU, each block ending in a 2x2 max pool."""

    filters: list[int] = Field(
        [32, 32, 64, 64, 128, 128],
        min_length=1,
        description="filters per block (the thesis: 32, 32, 64, 64, 128, 128)",
    )
    convs_per_block: int = Field(2, ge=1, description="3x3 conv layers per block")
    pool_grid: int = Field(2, ge=1, description="the last map is pooled to grid x grid, then flattened (thesis: 2)")


class TimmParams(Params):
    """A timm network used as a feature extractor."""

    pretrained: bool | str = Field(
        False,
        description="false, true (download ImageNet weights through timm), or a path to a local .safetensors file",
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

    model: str = Field(description="a timm model name, e.g. 'efficientnet_b0'")


TIMM_BACKBONES = {
    "inception_v3": "InceptionV3 (timm), the thesis's transfer-learning network",
    "resnet18": "ResNet-18 (timm)",
    "resnet34": "ResNet-34 (timm)",
    "resnet50": "ResNet-50 (timm)",
}


@hookimpl
def zoo_register_backbones(register: Any) -> None:
    """Register the thesis CNN and the timm backbones."""
    register(
        "thesis_vgg",
        "zoo_plugins.backbones.thesis_vgg:build",
        params=ThesisVGGParams,
        description="the thesis's VGG-style CNN (6 blocks, 1-channel input, from 64 px up)",
    )
    for name, description in TIMM_BACKBONES.items():
        register(
            name,
            f"zoo_plugins.backbones.timm_models:build_{name}",
            params=TimmParams,
            description=description,
        )
    register(
        "timm",
        "zoo_plugins.backbones.timm_models:build_any",
        params=AnyTimmParams,
        description="any timm model by name (params.model)",
    )


INCEPTION_MIN_SIZE = 75  # InceptionV3's stem and reductions need at least 75 px


def backbone_image_size(recipe: Any, registry: Any) -> list[tuple[str, str]]:
    """Backbones that shrink the image a fixed number of times need a smallest input size."""
    backbone = recipe.model.backbone
    if backbone.name == "thesis_vgg":
        blocks = len(backbone.params.get("filters", ThesisVGGParams().filters))
        smallest, why = 2**blocks, f"with {blocks} blocks "
    elif backbone.name == "inception_v3":
        smallest, why = INCEPTION_MIN_SIZE, ""
    else:
        return []
    if recipe.data.image_size < smallest:
        return [("data.image_size", f"backbone '{backbone.name}' {why}needs images of at least {smallest} px")]
    return []


@hookimpl
def zoo_register_checks(register: Any) -> None:
    """Register the backbones' recipe checks."""
    register(
        "backbone_image_size",
        backbone_image_size,
        description="thesis_vgg needs 2**blocks pixels, inception_v3 75",
    )
