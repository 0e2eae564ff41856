"""Attention maps explain the layer each backbone declares (`Backbone.feature_layer`)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.compose.plugins import get_registry
from zoo.compose.recipe import ComponentRef
from zoo.protocols import Backbone
from zoo.training.model import ZooModel, build_model
from zoo.using.analyze import grad_cam

SIZE = {"inception_v3": 80}


def zoo_model(backbone: str, params: dict[str, object], head: str = "softmax", target: str = "stage") -> ZooModel:
    """A freshly initialised zoo model, in eval mode, seeded."""
    torch.manual_seed(0)
    return build_model(
        get_registry(), ComponentRef(name=backbone, params=params), ComponentRef(name=head), target
    ).eval()


def feature_map(model: ZooModel, images: torch.Tensor) -> torch.Tensor:
    """The feature layer's output on `images`."""
    seen: list[torch.Tensor] = []
    handle = model.backbone.feature_layer().register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    assert len(seen) == 1, "the feature layer runs once per forward pass"
    return seen[0]


def reference_cam(model: ZooModel, images: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """Grad-CAM written out by hand on `layer`, at the input size."""
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        score = model.head.severity(model(images.clone().requires_grad_(True))).sum()
    finally:
        handle.remove()
    (gradient,) = torch.autograd.grad(score, seen[0])
    cam = torch.relu((gradient.mean(dim=(2, 3), keepdim=True) * seen[0]).sum(dim=1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=images.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return cam / cam.flatten(1).max(dim=1).values.clamp(min=1e-8)[:, None, None]


def test_inception_grad_cam_explains_the_2048_channel_block() -> None:
    model = zoo_model("inception_v3", {"pretrained": False})
    layer = model.backbone.feature_layer()
    assert layer is model.backbone.model.Mixed_7c, "timm's last feature_info entry"
    images = torch.rand(2, 1, 80, 80, generator=torch.Generator().manual_seed(1))
    activation = feature_map(model, images)
    assert activation.dim() == 4 and activation.shape[:2] == (2, 2048)
    maps = grad_cam(model, images)
    assert maps.shape == (2, 80, 80), "Grad-CAM maps come at the input's size"
    assert maps.min() >= 0 and maps.max() <= 1 + 1e-6
    assert torch.allclose(torch.from_numpy(maps), reference_cam(model, images, layer).detach(), atol=1e-5)
    assert all(p.grad is None for p in model.parameters()), "Grad-CAM leaves parameter gradients alone"


def test_thesis_vgg_feature_layer_is_its_last_conv_block() -> None:
    model = zoo_model("thesis_vgg", {}, head="cdf", target="percent")
    features = model.backbone.features
    layer = model.backbone.feature_layer()
    assert layer is features[-2] and isinstance(layer, nn.ReLU)
    kinds = [type(m).__name__ for m in features[-4:]]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"], "the last block's map, before its max pool"
    images = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(2))
    activation = feature_map(model, images)
    assert activation.shape == (3, 128, 2, 2), "the last block's 128 filters at 64 / 2**5 px"
    maps = grad_cam(model, images)
    assert maps.shape == (3, 64, 64)
    assert torch.allclose(torch.from_numpy(maps), reference_cam(model, images, layer).detach(), atol=1e-5)


def backbones() -> list[str]:
    return [s.name for s in get_registry().components("backbones") if s.name != "timm"]


@pytest.mark.parametrize("name", backbones())
def test_every_backbone_declares_a_feature_map_of_its_own(name: str) -> None:
    net = get_registry().get("backbones", name).build({}, in_chans=1).eval()
    assert isinstance(net, Backbone)
    layer = net.feature_layer()
    assert any(layer is m for m in net.modules()), "a submodule of the backbone"
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        with torch.no_grad():
            net(torch.rand(1, 1, SIZE.get(name, 64), SIZE.get(name, 64)))
    finally:
        handle.remove()
    assert seen and seen[-1].dim() == 4, "a (B, C, h, w) map"
