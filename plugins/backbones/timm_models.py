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

The file is first checked against the full timm model (`pretrained_state`: clear errors naming a
missing, unexpected or mismatched tensor), then timm loads it itself
(`pretrained_cfg_overlay=dict(file=...)`), folding the stem and dropping the classifier as it does
for its own weights. Random state: the checking model is built on the run's random stream, as it
always was, so the backbone and the head that follow draw the same numbers (same seed, same run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from . import weights
from .params import AnyTimmParams, TimmParams


class TimmBackbone(nn.Module):
    """A timm model without its classifier, with the input normalisation it expects."""

    mean: torch.Tensor  # buffers
    std: torch.Tensor

    def __init__(self, model: nn.Module, in_chans: int, model_chans: int, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.model_chans = model_chans
        self.repeat = model_chans != in_chans
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.num_features = int(weights.timm_attributes(model).num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.repeat:
            x = x.expand(-1, self.model_chans, -1, -1)
        features: torch.Tensor = self.model((x - self.mean) / self.std)
        return features

    def feature_layer(self) -> nn.Module:
        """The module of timm's last `feature_info` entry (InceptionV3: `Mixed_7c`, 2048 channels)."""
        deepest = weights.timm_attributes(self.model).feature_info[-1]
        return self.model.get_submodule(str(deepest["module"]))


def pretrained_state(name: str, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights in `path` checked against timm model `name`, and the model's pretrained config.

    The full model is built on the caller's random stream (not under `fork_rng`): `create` has
    always drawn its initialisation before the backbone's, and a run's numbers depend on it."""
    full = timm.create_model(name, pretrained=False)
    cfg = dict(weights.timm_attributes(full).pretrained_cfg)
    classifier = str(cfg.get("classifier", "fc"))
    state, _ = weights.match_state_dict(weights.read_state_dict(path), full.state_dict(), name, path, classifier)
    return state, cfg


def create(name: str, params: TimmParams, in_chans: int) -> TimmBackbone:
    """Create timm model `name` as a backbone for `in_chans`-channel input."""
    if params.pretrained is False:
        model = timm.create_model(name, pretrained=False, in_chans=in_chans, num_classes=0, drop_rate=params.drop_rate)
        cfg = weights.timm_attributes(model).pretrained_cfg
        mean = [sum(cfg["mean"]) / 3] * in_chans if in_chans != 3 else list(cfg["mean"])
        std = [sum(cfg["std"]) / 3] * in_chans if in_chans != 3 else list(cfg["std"])
        return TimmBackbone(model, in_chans, in_chans, mean, std)
    path = weights.resolve(name) if params.pretrained is True else Path(params.pretrained)
    _, cfg = pretrained_state(name, path)  # checks the file (clear errors); its state is timm's to load
    mean, std = list(cfg["mean"]), list(cfg["std"])
    fold = in_chans != 3 and len(set(mean)) == 1 and len(set(std)) == 1
    model_chans = in_chans if fold else 3
    # timm loads the checked file: with in_chans=1 it sums the stem's RGB filters (adapt_input_conv),
    # with num_classes=0 it drops the classifier. `source`/`custom_load` are pinned so that the file
    # is what is loaded, never the hub or a model's own loader.
    overlay = {"file": str(path.expanduser().resolve()), "source": "", "custom_load": False}
    model = timm.create_model(
        name,
        pretrained=True,
        pretrained_cfg_overlay=overlay,
        in_chans=model_chans,
        num_classes=0,
        drop_rate=params.drop_rate,
    )
    if fold:
        mean, std = mean[:1] * in_chans, std[:1] * in_chans
    return TimmBackbone(model, in_chans, model_chans, mean, std)


def build_any(params: AnyTimmParams, in_chans: int) -> TimmBackbone:
    """Any timm model by name."""
    weights.check_model_name(params.model)
    return create(params.model, params, in_chans)
