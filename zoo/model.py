"""A zoo model: a backbone and a head from the registry, saved as safetensors + config.json.

`config.json` holds what is needed to rebuild the model without the recipe or its data:
components and params, target, input size and preprocessing. Input is grayscale in [0, 1],
1 channel; each backbone normalises it the way its weights expect.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_file
from torch import nn

from zoo import __version__
from zoo.errors import UsageError
from zoo.registry import Registry

IN_CHANS = 1


class ZooModel(nn.Module):
    """Backbone then head; `predict` and `embed` come from the head."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer: the head's, or the backbone's features."""
        features = self.backbone(x)
        embed = getattr(self.head, "embed", None)
        return embed(features) if embed is not None else features

    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Turn raw outputs into predictions (`pred`, and `probs`/`cdf` where the head has them)."""
        return self.head.predict(outputs)


def build_model(registry: Registry, backbone: Any, head: Any, target: str) -> ZooModel:
    """Build backbone and head from recipe component references."""
    net = registry.get("backbones", backbone.name).build(backbone.params, in_chans=IN_CHANS)
    features = int(net.num_features)
    top = registry.get("heads", head.name).build(head.params, in_features=features, target=target)
    return ZooModel(net, top)


def model_config(recipe: Any) -> dict[str, Any]:
    """What config.json records about the model."""
    return {
        "zoo_version": __version__,
        "recipe": recipe.name,
        "target": recipe.data.target,
        "backbone": {"name": recipe.model.backbone.name, "params": recipe.model.backbone.params},
        "head": {"name": recipe.model.head.name, "params": recipe.model.head.params},
        "image_size": recipe.data.image_size,
        "equalize": recipe.data.equalize,
        "in_chans": IN_CHANS,
        "input": "grayscale, 8-bit scaled to [0, 1]; backbones normalise it themselves",
        "labels": ["0", "1", "2", "3", "4", "5"]
        if recipe.data.target == "stage"
        else ["healthy", "eroded"]
        if recipe.data.target == "binary"
        else "percent 0-100",
    }


def save(model: nn.Module, folder: Path, config: dict[str, Any]) -> None:
    """Write model.safetensors and config.json."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}  # channels_last too
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def load(folder: Path, registry: Registry) -> tuple[ZooModel, dict[str, Any]]:
    """Rebuild a saved model (pretrained files are not needed: the weights come from the run)."""
    config_path, weights = folder / "config.json", folder / "model.safetensors"
    if not config_path.is_file() or not weights.is_file():
        raise UsageError(
            f"'{folder}' is not a finished run (no config.json and model.safetensors)",
            hint="give a run folder made by 'zoo run'",
        )
    try:
        config = json.loads(config_path.read_text())
        backbone_params = dict(config["backbone"]["params"])
        backbone = SimpleNamespace(name=config["backbone"]["name"], params=backbone_params)
        head = SimpleNamespace(name=config["head"]["name"], params=config["head"]["params"])
        target = config["target"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(
            f"'{config_path.resolve()}' is not a readable model config (damaged or edited?)",
            hint="the run folder's config.json is written by 'zoo run'; restore it or run the recipe again",
        ) from None
    if "pretrained" in backbone_params:
        backbone_params["pretrained"] = False
    model = build_model(registry, backbone, head, target)
    try:
        load_model(model, str(weights))
    except (OSError, ValueError, RuntimeError, SafetensorError):
        raise UsageError(
            f"'{weights.resolve()}' is damaged or does not fit its config.json (truncated?)",
            hint="restore the file, or run the recipe again",
        ) from None
    return model.eval(), config
