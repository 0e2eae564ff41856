"""Built-in backbones: the thesis's VGG-style CNN and timm networks (InceptionV3, ResNets,
EfficientNet-Lite, any), and `zoo weights`, the store of pretrained weights they load offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from zoo_plugins.common import Params

from zoo import hookimpl
from zoo.paths import RecipePath


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

    model: str = Field(description="a timm model name, e.g. 'efficientnet_b0'")


TIMM_BACKBONES = {
    "inception_v3": "InceptionV3 (timm), the thesis's transfer-learning network",
    "resnet18": "ResNet-18 (timm)",
    "resnet34": "ResNet-34 (timm)",
    "resnet50": "ResNet-50 (timm)",
    "tf_efficientnet_lite0": "EfficientNet-Lite0 (timm); ImageNet weights offline with erosion-zoo[imagenet]",
    "tf_efficientnet_lite1": "EfficientNet-Lite1 (timm); ImageNet weights offline with erosion-zoo[imagenet]",
    "tf_efficientnet_lite2": "EfficientNet-Lite2 (timm); ImageNet weights offline with erosion-zoo[imagenet]",
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
            timm_builder(name),
            params=TimmParams,
            description=description,
            preflight=lambda params, name=name: weights_ready(name, params),
            restore_params=without_pretrained,
        )
    register(
        "timm",
        "zoo_plugins.backbones.timm_models:build_any",
        params=AnyTimmParams,
        description="any timm model by name (params.model)",
        preflight=lambda params: weights_ready(params.model, params),
        restore_params=without_pretrained,
    )


def without_pretrained(params: Any) -> Any:
    """A saved model's backbone: its weights come from the run, so none are loaded or fetched."""
    return params.model_copy(update={"pretrained": False})


def timm_builder(name: str) -> Callable[..., Any]:
    """The factory of the backbone `name`; it imports torch and timm only when it builds."""

    def build(params: Any, in_chans: int) -> Any:
        from zoo_plugins.backbones.timm_models import create

        return create(name, params, in_chans)

    build.__doc__ = f"{name}: {TIMM_BACKBONES[name]}"
    return build


def weights_ready(name: str, params: Any) -> None:
    """`pretrained: true` needs weights this machine can get: checked before torch is imported."""
    if params.pretrained is True:
        from zoo_plugins.backbones import weights

        weights.available(name)


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


def pretrained_file_exists(recipe: Any, registry: Any) -> list[tuple[str, str]]:
    """A timm backbone's `pretrained: PATH` must name an existing file."""
    backbone = recipe.model.backbone
    pretrained = backbone.params.get("pretrained")
    if (backbone.name in TIMM_BACKBONES or backbone.name == "timm") and isinstance(pretrained, str):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            return [("model.backbone.params.pretrained", f"weights file '{path.resolve()}' does not exist")]
    return []


@hookimpl
def zoo_register_checks(register: Any) -> None:
    """Register the backbones' recipe checks."""
    register(
        "backbone_image_size",
        backbone_image_size,
        description="thesis_vgg needs 2**blocks pixels, inception_v3 75",
    )
    register(
        "pretrained_file_exists",
        pretrained_file_exists,
        description="a timm backbone's pretrained weights file exists",
    )


@hookimpl
def zoo_register_commands(commands: Any) -> None:
    """Add `zoo weights list|import|fetch`."""
    from zoo_plugins.backbones.weights_commands import weights_app

    commands.root.add_typer(weights_app, name="weights")
