"""Built-in backbones: the thesis's VGG-style CNN and timm networks (InceptionV3, ResNets, any)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
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
    global_pool: bool = Field(
        False,
        description="average-pool the last block instead of flattening it (the thesis flattens)",
    )


class TimmParams(Params):
    """A timm network used as a feature extractor."""

    pretrained: bool | str = Field(
        False,
        description="false, true (download ImageNet weights through timm), or a path to a "
        "local .safetensors file",
    )
    drop_rate: float = Field(0.0, ge=0, lt=1, description="dropout before the pooled features")


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


def thesis_vgg_image_size(recipe: Any, registry: Any) -> list[tuple[str, str]]:
    """The VGG-style CNN halves the image once per block: it needs at least 2**blocks pixels."""
    backbone = recipe.model.backbone
    if backbone.name != "thesis_vgg":
        return []
    blocks = len(backbone.params.get("filters", ThesisVGGParams().filters))
    smallest = 2**blocks
    if recipe.data.image_size < smallest:
        return [
            (
                "data.image_size",
                f"backbone 'thesis_vgg' with {blocks} blocks needs images of at least "
                f"{smallest} px",
            )
        ]
    return []


@hookimpl
def zoo_register_checks(register: Any) -> None:
    """Register the backbones' recipe checks."""
    register(
        "thesis_vgg_image_size",
        thesis_vgg_image_size,
        description="thesis_vgg needs at least 2**blocks pixels",
    )
