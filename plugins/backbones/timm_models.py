"""timm networks as backbones: InceptionV3, ResNets, or any timm model by name.

Grayscale crops arrive as 1 channel in [0, 1]. Trained from scratch, the network gets a
1-channel stem and the channel-mean of its default normalisation. With ImageNet weights the
crop is repeated to 3 channels and normalised as the weights expect (InceptionV3: [-1, 1];
ResNets: ImageNet mean and sd). `pretrained: true` downloads through timm (needs the internet);
`pretrained: PATH.safetensors` loads a local file offline; a missing or mismatched file is a
clear error. Weights are never unpickled.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from zoo.errors import UsageError, ZooError


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


def load_local_weights(model: nn.Module, path: Path, name: str, classifier: str) -> None:
    """Load a local safetensors file into `model` (its classifier tensors are ignored)."""
    if not path.is_file():
        raise UsageError(
            f"pretrained weights '{path}' do not exist",
            hint="give the path of a .safetensors file of the same timm architecture",
        )
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError):
        raise UsageError(
            f"'{path}' is not a readable safetensors file",
            hint="weights load only from .safetensors files (never pickles)",
        ) from None
    state = {k: v for k, v in state.items() if not k.startswith(f"{classifier}.")}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        first = (missing or unexpected or mismatched)[0]
        raise UsageError(
            f"'{path}' does not match backbone '{name}': {len(missing)} missing, "
            f"{len(unexpected)} unexpected and {len(mismatched)} mismatched tensors (e.g. '{first}')",
            hint="give weights saved from the same timm architecture",
        )
    model.load_state_dict(state)


def create(name: str, params: Any, in_chans: int) -> TimmBackbone:
    """Create timm model `name` as a backbone for `in_chans`-channel input."""
    pretrained = params.pretrained
    options = {"num_classes": 0, "drop_rate": params.drop_rate}
    if pretrained is False:
        model = timm.create_model(name, pretrained=False, in_chans=in_chans, **options)
        cfg = model.pretrained_cfg
        mean = [sum(cfg["mean"]) / 3] * in_chans if in_chans != 3 else list(cfg["mean"])
        std = [sum(cfg["std"]) / 3] * in_chans if in_chans != 3 else list(cfg["std"])
        return TimmBackbone(model, in_chans, in_chans, mean, std)
    if pretrained is True:
        try:
            model = timm.create_model(name, pretrained=True, **options)
        except Exception as exc:
            raise ZooError(
                f"could not download ImageNet weights for '{name}' ({type(exc).__name__})",
                hint="without internet, set pretrained to a local .safetensors file",
            ) from None
    else:
        model = timm.create_model(name, pretrained=False, **options)
        load_local_weights(model, Path(pretrained).expanduser(), name, model.pretrained_cfg.get("classifier", "fc"))
    cfg = model.pretrained_cfg
    return TimmBackbone(model, in_chans, 3, list(cfg["mean"]), list(cfg["std"]))


def build_inception_v3(params: Any, in_chans: int) -> TimmBackbone:
    """InceptionV3 (the thesis's transfer-learning network)."""
    return create("inception_v3", params, in_chans)


def build_resnet18(params: Any, in_chans: int) -> TimmBackbone:
    """ResNet-18."""
    return create("resnet18", params, in_chans)


def build_resnet34(params: Any, in_chans: int) -> TimmBackbone:
    """ResNet-34."""
    return create("resnet34", params, in_chans)


def build_resnet50(params: Any, in_chans: int) -> TimmBackbone:
    """ResNet-50."""
    return create("resnet50", params, in_chans)


def build_any(params: Any, in_chans: int) -> TimmBackbone:
    """Any timm model by name."""
    if not timm.is_model(params.model):
        close = difflib.get_close_matches(params.model, timm.list_models(), n=3)
        tip = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UsageError(
            f"timm has no model '{params.model}'{tip}",
            hint="python -c 'import timm; print(timm.list_models())' lists them",
        )
    return create(params.model, params, in_chans)
