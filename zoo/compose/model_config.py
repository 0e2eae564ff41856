"""A run's config.json, checked on load: what rebuilds its model, trusted only once it validates.

config.json is written by `zoo run`, but a run folder is a folder a user can edit, copy from
elsewhere or damage. Before a model is built from it, every field the zoo uses is checked: the
target is one of the target table's, the image size and preprocessing are ones a recipe could
give, the backbone and head are registered components whose params validate against their own
models, the head serves the target, and a binary run's threshold is a probability. Any problem is
one `UsageError` naming the file and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.compose.recipe import Target
from zoo.compose.registry import Registry, UnknownComponentError
from zoo.errors import UsageError
from zoo.paths import regular_file
from zoo.runs import SavedModelConfig
from zoo.targets import TARGETS

IN_CHANS: Literal[1] = 1  # every zoo model reads one grayscale channel
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
HINT = "config.json is written by 'zoo run'; restore it from the run, or run the recipe again"


class SavedComponent(BaseModel):
    """A component as config.json records it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    params: dict[str, object]


class SavedExtraHead(BaseModel):
    """An extra target's head as config.json records it."""

    model_config = ConfigDict(extra="allow")

    head: SavedComponent


class SavedConfig(BaseModel):
    """The fields of config.json the zoo rebuilds and runs a model from (others are informative)."""

    model_config = ConfigDict(extra="allow")

    target: Target
    backbone: SavedComponent
    head: SavedComponent
    image_size: Annotated[int, Field(strict=True, ge=16, le=1024)]
    equalize: Literal["none", "linear", "histogram"]
    in_chans: Literal[1] = IN_CHANS
    threshold: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = None
    temperature: Annotated[float, Field(ge=0.01, le=100, allow_inf_nan=False)] | None = None
    rau_margin: Annotated[float, Field(ge=-190, le=190, allow_inf_nan=False)] | None = None
    tta: list[Literal["identity", "flip", "rot90", "rot180", "rot270"]] | None = Field(None, min_length=1, max_length=5)
    landmarks: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, min_length=1, max_length=200
    )
    caveat: Annotated[str, Field(max_length=300)] | None = None
    mean_shape: list[tuple[FiniteFloat, FiniteFloat]] | None = None
    joints: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=1000)
    extra_targets: dict[Target, SavedExtraHead] | None = Field(None, max_length=len(TARGETS) - 1)
    ensemble: list[SavedMember] | None = Field(None, min_length=2, max_length=100)


class SavedMember(BaseModel):
    """A member of an ensemble as config.json records it: its run, its weights' hash, its config."""

    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, max_length=300)
    weights_sha256: str = Field(pattern="^[0-9a-f]{64}$")
    config: SavedConfig


SavedConfig.model_rebuild()  # its `ensemble` names SavedMember, defined after it


def read_model_config(path: Path, registry: Registry) -> SavedModelConfig:
    """config.json, checked field by field (a `UsageError` names the first bad field)."""
    where = path.resolve()
    regular_file(path, "model config", hint=HINT)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(
            f"'{where}' is not a readable model config (not JSON: damaged or edited?)",
            hint=HINT,
        ) from None
    try:
        config = SavedConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "the file"
        raise UsageError(f"'{where}' is not a readable model config: {field}: {error['msg']}", hint=HINT) from None
    _check(config, where, registry, "")
    for number, member in enumerate(config.ensemble or []):
        if member.config.ensemble is not None:
            raise UsageError(
                f"'{where}' is not a readable model config: ensemble.{number}: an ensemble in an ensemble", hint=HINT
            )
        fed = ("target", "image_size", "equalize")
        if any(getattr(member.config, name) != getattr(config, name) for name in fed):
            raise UsageError(
                f"'{where}' is not a readable model config: ensemble.{number}.config: its target, image size or "
                "equalisation differs from the ensemble's",
                hint=HINT,
            )
        _check(member.config, where, registry, f"ensemble.{number}.config.")
    checked = config.model_dump(include={"target", "image_size", "equalize", "in_chans"})
    return cast(SavedModelConfig, {**raw, **checked})


def _check(config: SavedConfig, where: Path, registry: Registry, prefix: str) -> None:
    """What a model config's fields must say together; `prefix` names an ensemble member's fields."""
    at = f"'{where}' is not a readable model config: {prefix}"
    components = [
        ("backbones", "backbone", config.backbone, config.target),
        ("heads", "head", config.head, config.target),
    ]
    for name, extra in (config.extra_targets or {}).items():
        if name == config.target or TARGETS[name].points or TARGETS[config.target].points:
            raise UsageError(
                f"{at}extra_targets.{name}: not a target a multi-target model can have beside its main one",
                hint=HINT,
            )
        components.append(("heads", f"extra_targets.{name}.head", extra.head, name))
    for kind, part, component, target in components:
        try:
            spec = registry.get(kind, component.name)
        except UnknownComponentError as exc:
            raise UsageError(f"{at}{part}.name: {exc.message}", hint=HINT) from None
        try:
            spec.params.model_validate(component.params)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(p) for p in (part, "params", *error["loc"]))
            raise UsageError(f"{at}{field}: {error['msg']}", hint=HINT) from None
        if kind == "heads" and spec.targets is not None and target not in spec.targets:
            raise UsageError(
                f"{at}{part}.name: {spec.label} does not serve target '{target}'",
                hint=HINT,
            )
    if config.threshold is not None and not TARGETS[config.target].decision:
        raise UsageError(f"{at}threshold: only binary runs have one", hint=HINT)
    if config.mean_shape is not None and (config.landmarks is None or len(config.mean_shape) != len(config.landmarks)):
        raise UsageError(f"{at}mean_shape: one [x, y] per landmark", hint=HINT)
    if TARGETS[config.target].points != (config.landmarks is not None):
        raise UsageError(
            f"{at}landmarks: a landmarks model lists its points, and only a landmarks model",
            hint=HINT,
        )
