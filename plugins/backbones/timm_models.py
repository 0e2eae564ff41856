"""timm networks as backbones: InceptionV3, ResNets, EfficientNet-Lite, or any timm model by name.

Grayscale crops arrive as 1 channel in [0, 1]. Trained from scratch, the network gets a
1-channel stem and the channel-mean of its default normalisation. With ImageNet weights the crop
goes in as the weights expect: where the weights' normalisation is the same for all three
channels (InceptionV3 and EfficientNet-Lite: [-1, 1]), the stem's RGB filters are summed into one
gray filter (timm's `in_chans=1` folding), which gives the same outputs as repeating the crop to
3 channels at a third of the stem's cost (`benchmarks/grayscale_input.py`); otherwise (ResNets:
ImageNet mean and sd per channel) the crop is repeated to 3 channels and normalised per channel.

`pretrained: true` takes the weights from the zoo's weights store (an installed weight package or
the hub fill it, see `weights.py`); `pretrained: PATH.safetensors` loads a local file. Weights
are never unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import adapt_input_conv
from torch import nn
from zoo_plugins.backbones import weights


class TimmBackbone(nn.Module):
    """A timm model without its classifier, with the input normalisation it expects."""

    def __init__(self, model: nn.Module, in_chans: int, model_chans: int, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.model_chans = model_chans
        self.repeat = model_chans != in_chans
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.num_features = int(model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.repeat:
            x = x.expand(-1, self.model_chans, -1, -1)
        return self.model((x - self.mean) / self.std)


def pretrained_state(name: str, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights in `path` checked against timm model `name`, and the model's pretrained config."""
    full = timm.create_model(name, pretrained=False)
    cfg = dict(full.pretrained_cfg)
    classifier = str(cfg.get("classifier", "fc"))
    state, _ = weights.match_state_dict(weights.read_state_dict(path), full.state_dict(), name, path, classifier)
    return state, cfg


def create(name: str, params: Any, in_chans: int) -> TimmBackbone:
    """Create timm model `name` as a backbone for `in_chans`-channel input."""
    options = {"num_classes": 0, "drop_rate": params.drop_rate}
    if params.pretrained is False:
        model = timm.create_model(name, pretrained=False, in_chans=in_chans, **options)
        cfg = model.pretrained_cfg
        mean = [sum(cfg["mean"]) / 3] * in_chans if in_chans != 3 else list(cfg["mean"])
        std = [sum(cfg["std"]) / 3] * in_chans if in_chans != 3 else list(cfg["std"])
        return TimmBackbone(model, in_chans, in_chans, mean, std)
    path = weights.resolve(name) if params.pretrained is True else Path(params.pretrained)
    state, cfg = pretrained_state(name, path)
    mean, std = list(cfg["mean"]), list(cfg["std"])
    fold = in_chans != 3 and len(set(mean)) == 1 and len(set(std)) == 1
    model_chans = in_chans if fold else 3
    model = timm.create_model(name, pretrained=False, in_chans=model_chans, **options)
    if fold:
        stem = f"{cfg['first_conv']}.weight"
        state[stem] = adapt_input_conv(in_chans, state[stem])
        mean, std = mean[:1] * in_chans, std[:1] * in_chans
    model.load_state_dict({key: state[key] for key in model.state_dict()})
    return TimmBackbone(model, in_chans, model_chans, mean, std)


def build_any(params: Any, in_chans: int) -> TimmBackbone:
    """Any timm model by name."""
    weights.check_model_name(params.model)
    return create(params.model, params, in_chans)
