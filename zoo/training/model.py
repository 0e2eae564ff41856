"""A zoo model: a backbone and a head from the registry, saved as safetensors + config.json;
and the other parts a trainer trains with (loss, validation metrics, imbalance strategy).

`config.json` holds what is needed to rebuild the model without the recipe or its data:
components and params, target, input size and preprocessing. Input is grayscale in [0, 1],
1 channel; each backbone normalises it the way its weights expect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file
from torch import nn

import zoo
from zoo.compose.metrics import build_metrics
from zoo.compose.model_config import IN_CHANS, read_model_config
from zoo.compose.recipe import AugmentConfig
from zoo.compose.registry import Registry
from zoo.data.augment import BatchAugment
from zoo.data.point_augment import PointsAugment
from zoo.data.prepare import Prepared
from zoo.errors import UsageError
from zoo.protocols import Backbone, ComponentChoice, EpochSampler, Head, Loss, Metric
from zoo.runs import RunFolder, SavedModelConfig
from zoo.targets import TARGETS
from zoo.training import heads
from zoo.training.ensemble import EnsembleModel
from zoo.training.multi_target import MultiTargetLoss

if TYPE_CHECKING:
    from zoo.compose.recipe import OptimizerConfig, Recipe



TTA_TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {  # (B, C, H, W) to the same shape
    "identity": lambda x: x,
    "flip": lambda x: torch.flip(x, dims=[3]),  # mirrored left to right
    "rot90": lambda x: torch.rot90(x, 1, dims=[2, 3]),
    "rot180": lambda x: torch.rot90(x, 2, dims=[2, 3]),
    "rot270": lambda x: torch.rot90(x, 3, dims=[2, 3]),
}


class ZooModel(nn.Module):
    """Backbone then head; `predict` and `embed` come from the head.

    A multi-target model has one more head per extra target on the same backbone: one forward
    pass gives every head's raw outputs side by side (the main head's first, then the extra ones
    in `targets` order); `split` cuts them apart, `predict` reads the main head's, and
    `predict_target` any target's. A calibrated run scales the main head's outputs by its
    `temperature` before its prediction step (`ScalableHead.scale`); a run with test-time
    augmentation averages the passes over the transforms in `tta` as each head averages them
    (`AverageableHead.average`; in eval mode; `raw` is one pass)."""

    def __init__(self, backbone: Backbone, head: Head, extra_heads: dict[str, Head] | None = None) -> None:
        super().__init__()
        self.backbone: Backbone = backbone
        self.head: Head = head
        self.extra_heads = nn.ModuleDict(cast(dict[str, nn.Module], extra_heads or {}))
        self.targets: tuple[str, ...] = (head.target, *self.extra_heads)
        self.widths: tuple[int, ...] = ()  # each head's number of outputs (a multi-target model's)
        self.temperature = 1.0  # scales the main head's outputs (a calibrated run's: config.json)
        self.tta: tuple[str, ...] = ()  # test-time augmentation: the transforms averaged in eval mode
        if self.extra_heads:
            with torch.no_grad():
                features = torch.zeros(2, int(backbone.num_features))
                every = [head, *(self._extra(t) for t in self.targets[1:])]
                training = [cast(nn.Module, h).training for h in every]
                for h in every:
                    cast(nn.Module, h).eval()
                shapes = [h(features).shape for h in every]
                for h, mode in zip(every, training, strict=True):
                    cast(nn.Module, h).train(mode)
            if any(len(shape) != 2 for shape in shapes):
                raise UsageError(
                    "a multi-target model's heads must each give one row of outputs per image",
                    hint="use heads of class or value targets for extra_targets",
                )
            self.widths = tuple(int(shape[1]) for shape in shapes)

    def _extra(self, target: str) -> Head:
        return cast(Head, self.extra_heads[target])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tta and not self.training:  # each crop's transforms averaged, as the heads average passes
            return self.average(torch.stack([self.raw(TTA_TRANSFORMS[name](x)) for name in self.tta]))
        return self.raw(x)

    def average(self, passes: torch.Tensor) -> torch.Tensor:
        """Raw outputs of several passes (M, B, ...) to one pass's, each head averaging its own
        (mean probabilities or mean CDF: `AverageableHead.average`)."""
        parts = torch.split(passes, list(self.widths), dim=2) if self.extra_heads else (passes,)
        return torch.cat([heads.average(self.head_of(t), p) for t, p in zip(self.targets, parts, strict=True)], dim=1)

    def tempered(self, outputs: torch.Tensor) -> torch.Tensor:
        """Raw outputs with the main head's at the temperature (a calibrated run's)."""
        if self.temperature == 1.0:
            return outputs
        if not self.extra_heads:
            return heads.scale(self.head, outputs, self.temperature)
        main = self.widths[0]
        return torch.cat([heads.scale(self.head, outputs[:, :main], self.temperature), outputs[:, main:]], dim=1)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """Every head's raw outputs for images `x` as they are (no test-time augmentation)."""
        features = self.backbone(x)
        if not self.extra_heads:
            return self.head(features)
        return torch.cat([self.head(features), *(self._extra(t)(features) for t in self.targets[1:])], dim=1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer: the main head's."""
        return self.head.embed(self.backbone(x))

    def split(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each target's raw outputs (a single-target model's are all the main target's)."""
        if not self.extra_heads:
            return {self.targets[0]: outputs}
        return dict(zip(self.targets, torch.split(outputs, list(self.widths), dim=1), strict=True))

    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Turn raw outputs into the main target's predictions (`pred`, and `probs`/`cdf` where the head has them)."""
        return self.predict_target(outputs, self.targets[0])

    def predict_target(self, outputs: torch.Tensor, target: str) -> dict[str, torch.Tensor]:
        """Turn raw outputs into the predictions of one of the model's targets."""
        raw = self.split(outputs)[target]
        if target != self.targets[0]:
            return self._extra(target).predict(raw)
        return self.head.predict(heads.scale(self.head, raw, self.temperature))

    def head_of(self, target: str) -> Head:
        """The head that serves `target`."""
        return self.head if target == self.targets[0] else self._extra(target)


TrainedModel = ZooModel | EnsembleModel  # what a run folder holds: one model, or an ensemble of them


def build_model(
    registry: Registry,
    backbone: ComponentChoice,
    head: ComponentChoice,
    target: str,
    saved: bool = False,
    landmarks: list[str] | None = None,
    extra_heads: Mapping[str, ComponentChoice] | None = None,
) -> ZooModel:
    """Build backbone and head (and the heads of `extra_heads`, by target) from recipe component
    references.

    `saved`: the weights will come from a saved run, so components build with their
    `restore_params` (e.g. no pretrained weights to fetch). A landmarks target's head is told the
    names of the points it locates (`landmarks`, in order)."""
    backbone_spec = registry.get("backbones", backbone.name)
    backbone_params = backbone_spec.params_for_saved(backbone.params) if saved else backbone.params
    net = backbone_spec.build(backbone_params, in_chans=IN_CHANS)

    def build_head(choice: ComponentChoice, served: str) -> Head:
        context: dict[str, object] = {"in_features": int(net.num_features), "target": served}
        if TARGETS[served].points:
            context["landmarks"] = list(landmarks or [])
        built: Head = registry.get("heads", choice.name).build(choice.params, **context)
        return built

    extra = {name: build_head(choice, name) for name, choice in (extra_heads or {}).items()}
    return ZooModel(net, build_head(head, target), extra)


@dataclass(frozen=True)
class TrainingParts:
    """What a trainer trains with, built from the recipe, the registry and the prepared data."""

    model: ZooModel
    loss: Loss
    metrics: dict[str, Metric]  # the validation values of every epoch
    extra_metrics: dict[str, dict[str, Metric]]  # an extra target's validation values, by target
    sample_weights: np.ndarray | None  # the imbalance strategy's loss weight of each training sample
    sampler: EpochSampler | None  # the imbalance strategy's epoch sampler (None: a plain shuffle)
    augment: BatchAugment | PointsAugment | None  # every training batch's (None: none)
    copy_augment: BatchAugment | None  # the sampler's repeated samples' (the thesis's when the recipe has none)


def build_parts(registry: Registry, recipe: Recipe, model: ZooModel, prepared: Prepared) -> TrainingParts:
    """The loss, the validation metrics, the imbalance strategy's weights and sampler, the augmentations."""
    target = recipe.data.target
    loss: Loss = registry.get("losses", recipe.loss.name).build(recipe.loss.params, target=target)
    if recipe.extra_targets:
        extra = recipe.extra_targets
        losses = [loss, *(registry.get("losses", e.loss.name).build(e.loss.params, target=t) for t, e in extra.items())]
        loss = MultiTargetLoss(losses, [1.0, *(e.weight for e in extra.values())], model.widths)
    tags = set(model.head.outputs) | ({"points"} if TARGETS[target].points else set())  # as Predictions.tags
    metrics = build_metrics(registry, target, tags)
    extra_metrics: dict[str, dict[str, Metric]] = {
        name: build_metrics(registry, name, set(model.head_of(name).outputs)) for name in recipe.extra_targets
    }
    weights, sampler = None, None
    if recipe.imbalance is not None:
        strategy = registry.get("imbalance", recipe.imbalance.name).build(recipe.imbalance.params)
        train_classes = prepared.table["cls"].to_numpy()[prepared.rows("train")]
        class_weights = strategy.class_weights(train_classes, TARGETS[prepared.scale].strata)
        weights = None if class_weights is None else class_weights[train_classes]
        sampler = strategy.sampler(train_classes, recipe.seed)
    augment = make_augment(recipe.data.augment, recipe.data.landmarks if TARGETS[target].points else None)
    copy_augment = crop_augment(recipe.data.augment or AugmentConfig()) if sampler is not None else None
    return TrainingParts(model, loss, metrics, extra_metrics, weights, sampler, augment, copy_augment)


def make_augment(
    config: AugmentConfig | None, landmarks: list[str] | None = None
) -> BatchAugment | PointsAugment | None:
    """The augmentation of a recipe's `data.augment` section (None: no augmentation); with the
    `landmarks` of a points target, one that moves the points with the pixels (kornia)."""
    if config is None:
        return None
    if landmarks is not None:
        swap = [(landmarks.index(a), landmarks.index(b)) for a, b in config.swap_on_flip]
        return PointsAugment(
            config.rotation, config.shear, config.zoom, config.shift, config.flip, config.contrast, swap
        )
    return crop_augment(config)


def crop_augment(config: AugmentConfig) -> BatchAugment:
    """The thesis's augmentation of crops, from a recipe's `data.augment` section."""
    return BatchAugment(config.rotation, config.shear, config.zoom, config.flip)


def build_optimizer(model: nn.Module, config: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    """A fresh optimiser over all parameters (frozen ones get no gradients)."""
    params = list(model.parameters())
    if config.name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay)


def model_config(recipe: Recipe, prepared: Prepared) -> SavedModelConfig:
    """What config.json records about the model: how to rebuild it and feed it; for a locator its
    training points' mean shape (the prior `zoo predict` checks a located hand against); the
    joints it was trained on, where the data names them."""
    config: SavedModelConfig = {
        "zoo_version": zoo.__version__,
        "recipe": recipe.name,
        "target": recipe.data.target,
        "backbone": {"name": recipe.model.backbone.name, "params": recipe.model.backbone.params},
        "head": {"name": recipe.model.head.name, "params": recipe.model.head.params},
        "image_size": recipe.data.image_size,
        "equalize": recipe.data.equalize,
        "in_chans": IN_CHANS,
        "input": "grayscale, 8-bit scaled to [0, 1]; backbones normalise it themselves",
        "labels": _labels(recipe.data.target),
    }
    if recipe.eval.tta is not None:
        config["tta"] = list(recipe.eval.tta.transforms)
    if recipe.extra_targets:
        config["extra_targets"] = {
            name: {"head": {"name": extra.head.name, "params": extra.head.params}, "labels": _labels(name)}
            for name, extra in recipe.extra_targets.items()
        }
    if recipe.data.landmarks is not None:
        config["landmarks"] = list(recipe.data.landmarks)
        mean_shape = prepared.targets(prepared.rows("train")).mean(axis=0)
        config["mean_shape"] = [[round(float(x), 5), round(float(y), 5)] for x, y in mean_shape]
    if "joint" in prepared.table.columns:
        config["joints"] = sorted(prepared.table["joint"].astype(str).str.strip().str.lower().unique().tolist())
    return config


def _labels(target: str) -> list[str] | str:
    """The class names, or the range of a continuous target."""
    spec = TARGETS[target]
    if spec.points:
        return "positions of the points in `landmarks`, in pixels of the image"
    return list(spec.class_names) if spec.class_names else f"{spec.name} {spec.low:g}-{spec.high:g}"


def save(model: nn.Module, run: RunFolder, config: SavedModelConfig) -> None:
    """Write the run's model weights and config."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}  # channels_last too
    save_file(state, str(run.weights_file))
    run.config_file.write_text(json.dumps(config, indent=2) + "\n")


def initialise_from(model: ZooModel, folder: Path) -> tuple[int, int]:
    """Load into `model` every tensor of the trained model in `folder` (a run or a bundle) whose
    name and shape match; return (tensors loaded, tensors of the model). None matching is an error."""
    weights = RunFolder(folder).weights_file
    if not weights.is_file():
        raise UsageError(
            f"'{folder}' holds no trained model ({weights.name})", hint="give a bundle's name or a run folder"
        )
    try:
        source = load_file(str(weights))
    except (OSError, SafetensorError):
        raise UsageError(f"'{weights.resolve()}' is damaged (truncated?)", hint="restore the file") from None
    own = model.state_dict()
    fitting = {k: v.to(own[k].dtype) for k, v in source.items() if k in own and v.shape == own[k].shape}
    if not fitting:
        raise UsageError(
            f"no tensor of '{folder}' fits this recipe's model (different backbone or head?)",
            hint="model.pretrained takes a model of the same backbone",
        )
    model.load_state_dict(fitting, strict=False)
    return len(fitting), len(own)


def load(folder: Path, registry: Registry) -> tuple[TrainedModel, SavedModelConfig]:
    """Rebuild a saved model, or an ensemble of them (pretrained files are not needed: the
    weights come from the run)."""
    run = RunFolder(folder)
    config_path, weights = run.config_file, run.weights_file
    if not config_path.is_file() or not weights.is_file():
        raise UsageError(
            f"'{folder}' is not a finished run (no {config_path.name} and {weights.name})",
            hint="give a run folder made by 'zoo run'",
        )
    config = read_model_config(config_path, registry)
    members = config.get("ensemble")
    model: TrainedModel = (
        EnsembleModel([_network(member["config"], registry) for member in members])
        if members
        else _network(config, registry)
    )
    try:
        load_model(model, str(weights))
    except (OSError, ValueError, RuntimeError, SafetensorError):
        raise UsageError(
            f"'{weights.resolve()}' is damaged or does not fit its config.json (truncated?)",
            hint="restore the file, or run the recipe again",
        ) from None
    model.temperature = float(config.get("temperature", 1.0))  # an ensemble's own (its members': their configs)
    bad = next((name for name, value in model.state_dict().items() if not bool(torch.isfinite(value).all())), None)
    if bad is not None:
        raise UsageError(
            f"'{weights.resolve()}' holds NaN or infinite weights (first: '{bad}'): the model would score garbage",
            hint="train the recipe again, with a lower learning rate",
        )
    return model.eval(), config


def _network(config: SavedModelConfig, registry: Registry) -> ZooModel:
    """The network a model config describes, with its test-time augmentation and temperature
    (its weights not yet loaded)."""
    backbone = SimpleNamespace(name=config["backbone"]["name"], params=dict(config["backbone"]["params"]))
    head = SimpleNamespace(name=config["head"]["name"], params=config["head"]["params"])
    extra = {
        name: SimpleNamespace(name=saved["head"]["name"], params=saved["head"]["params"])
        for name, saved in config.get("extra_targets", {}).items()
    }
    model = build_model(
        registry, backbone, head, config["target"], saved=True, landmarks=config.get("landmarks"), extra_heads=extra
    )
    model.temperature = float(config.get("temperature", 1.0))
    model.tta = tuple(config.get("tta", ()))
    return model
