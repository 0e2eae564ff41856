"""A feature pyramid on a timm network: a feature map at stride 4, for heads that locate points.

The network's feature maps at strides 4, 8, 16 and 32 (timm's `features_only`) are each projected
to `channels` by a 1x1 convolution and merged top-down: the coarser map is upsampled (bilinear)
and added to the finer one (Lin et al. 2017, "Feature Pyramid Networks"). The result keeps the
deep layers' context at a quarter of the input's resolution, where a 1,280 px radiograph
resized to 384 px is still about 13 source pixels a cell. The backbone gives that map, not pooled
features: it provides `feature_map`, which the heatmap head requires.

Input and weights as the timm backbones (zoo_plugins.backbones.timm_models): grayscale in [0, 1],
normalised as the weights expect; ImageNet weights from the weights store or a local safetensors
file, their stem's RGB filters folded into one gray filter where the normalisation allows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, cast

import timm
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import UsageError

from . import weights
from .params import FeaturePyramidParams
from .timm_models import pretrained_state

STRIDES = (4, 8, 16, 32)


class FeaturePyramid(nn.Module):
    """(B, 1, H, W) in [0, 1] to a (B, channels, H/4, W/4) feature map."""

    mean: torch.Tensor  # buffers
    std: torch.Tensor
    stride = STRIDES[0]

    def __init__(self, encoder: nn.Module, model_chans: int, mean: list[float], std: list[float], channels: int):
        super().__init__()
        self.encoder = encoder
        self.model_chans = model_chans
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        info = cast(_FeatureInfo, encoder.feature_info)  # timm's FeatureInfo of a features_only model
        reductions, widths = info.reduction(), info.channels()
        self.levels = [reductions.index(stride) for stride in STRIDES]  # checked by `build`
        self.lateral = nn.ModuleList(nn.Conv2d(widths[level], channels, 1) for level in self.levels)
        self.merged = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU())
        self.num_features = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.expand(-1, self.model_chans, -1, -1) - self.mean) / self.std
        every = self.encoder(x)
        maps = [every[level] for level in self.levels]
        merged: torch.Tensor = self.lateral[-1](maps[-1])
        for feature, lateral in zip(reversed(maps[:-1]), reversed(self.lateral[:-1]), strict=True):
            merged = F.interpolate(merged, size=feature.shape[-2:], mode="bilinear", align_corners=False)
            merged = merged + lateral(feature)
        out: torch.Tensor = self.merged(merged)
        return out

    def feature_layer(self) -> nn.Module:
        """The merged map's layer: what attention maps explain."""
        return self.merged


def build(params: FeaturePyramidParams, in_chans: int) -> FeaturePyramid:
    """The `feature_pyramid` factory."""
    weights.check_model_name(params.model)
    if params.pretrained is False:
        encoder = _encoder(params, pretrained=False, in_chans=in_chans)
        cfg = weights.timm_attributes(encoder).pretrained_cfg
        mean, std = [sum(cfg["mean"]) / 3] * in_chans, [sum(cfg["std"]) / 3] * in_chans
        return FeaturePyramid(encoder, in_chans, mean, std, params.channels)
    path = weights.resolve(params.model) if params.pretrained is True else Path(params.pretrained)
    _, cfg = pretrained_state(params.model, path)  # checks the file: clear errors before timm reads it
    mean, std = list(cfg["mean"]), list(cfg["std"])
    fold = len(set(mean)) == 1 and len(set(std)) == 1
    model_chans = in_chans if fold else 3
    overlay = {"file": str(path.expanduser().resolve()), "source": "", "custom_load": False}
    encoder = _encoder(params, pretrained=True, in_chans=model_chans, pretrained_cfg_overlay=overlay)
    if fold:
        mean, std = mean[:1] * in_chans, std[:1] * in_chans
    return FeaturePyramid(encoder, model_chans, mean, std, params.channels)


class _FeatureInfo(Protocol):
    def reduction(self) -> list[int]: ...
    def channels(self) -> list[int]: ...


def _encoder(params: FeaturePyramidParams, **options: Any) -> nn.Module:
    """timm's `features_only` network, refused when it lacks a map at one of the strides."""
    builder = logging.getLogger("timm.models._builder")  # it lists the classifier's tensors a feature map leaves out
    level, builder.level = builder.level, logging.ERROR
    try:
        encoder: nn.Module = timm.create_model(params.model, features_only=True, drop_rate=params.drop_rate, **options)
    finally:
        builder.setLevel(level)
    reductions = cast(_FeatureInfo, encoder.feature_info).reduction()
    missing = [s for s in STRIDES if s not in reductions]
    if missing:
        raise UsageError(
            f"timm model '{params.model}' gives no feature map at stride {missing[0]}",
            hint="feature_pyramid needs maps at strides 4, 8, 16 and 32 (EfficientNets and ResNets give them)",
        )
    return encoder
