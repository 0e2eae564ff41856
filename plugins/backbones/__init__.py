"""Built-in backbones: the thesis's VGG-style CNN and timm networks (InceptionV3, ResNets,
EfficientNet-Lite, any), and `zoo weights`, the store of pretrained weights they load offline."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from zoo import hookimpl
from zoo.protocols import Commands, RegisterCheck, RegisterComponent

if TYPE_CHECKING:  # pydantic and torch: imported when a backbone is built, never when the plugin loads
    from .params import TimmParams
    from .timm_models import TimmBackbone

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
def zoo_register_backbones(register: RegisterComponent) -> None:
    """Register the thesis CNN and the timm backbones."""
    register(
        "thesis_vgg",
        "zoo_plugins.backbones.thesis_vgg:build",
        params="zoo_plugins.backbones.params:ThesisVGGParams",
        description="the thesis's VGG-style CNN (6 blocks, 1-channel input, from 64 px up)",
    )
    for name, description in TIMM_BACKBONES.items():
        register(
            name,
            timm_builder(name),
            params="zoo_plugins.backbones.params:TimmParams",
            description=description,
            preflight=lambda params, name=name: weights_ready(name, params),
            restore_params=without_pretrained,
        )
    register(
        "feature_pyramid",
        "zoo_plugins.backbones.feature_pyramid:build",
        params="zoo_plugins.backbones.params:FeaturePyramidParams",
        description="a timm network's maps at strides 4-32 merged top-down: a stride-4 feature map (locators)",
        targets=["landmarks"],
        provides=["feature_map"],
        preflight=lambda params: weights_ready(params.model, params),
        restore_params=without_pretrained,
    )
    register(
        "timm",
        "zoo_plugins.backbones.timm_models:build_any",
        params="zoo_plugins.backbones.params:AnyTimmParams",
        description="any timm model by name (params.model)",
        preflight=lambda params: weights_ready(params.model, params),
        restore_params=without_pretrained,
    )


def without_pretrained(params: TimmParams) -> TimmParams:
    """A saved model's backbone: its weights come from the run, so none are loaded or fetched."""
    return params.model_copy(update={"pretrained": False})


def timm_builder(name: str) -> Callable[[TimmParams, int], TimmBackbone]:
    """The factory of the backbone `name`; it imports torch and timm only when it builds."""

    def build(params: TimmParams, in_chans: int) -> TimmBackbone:
        from .timm_models import create

        return create(name, params, in_chans)

    build.__doc__ = f"{name}: {TIMM_BACKBONES[name]}"
    return build


def weights_ready(name: str, params: TimmParams) -> None:
    """`pretrained: true` needs weights this machine can get: checked before torch is imported."""
    if params.pretrained is True:
        from . import weights

        weights.available(name)


@hookimpl
def zoo_register_checks(register: RegisterCheck) -> None:
    """Register the backbones' recipe checks."""
    register(
        "backbone_image_size",
        "zoo_plugins.backbones.checks:backbone_image_size",
        description="thesis_vgg needs 2**blocks pixels, inception_v3 75",
    )
    register(
        "pretrained_file_exists",
        "zoo_plugins.backbones.checks:pretrained_file_exists",
        description="a timm backbone's pretrained weights file exists",
    )


@hookimpl
def zoo_register_commands(commands: Commands) -> None:
    """Add `zoo weights list|import|fetch`."""
    from .weights_commands import weights_app

    commands.root.add_typer(weights_app, name="weights")
