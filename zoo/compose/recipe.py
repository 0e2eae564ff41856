"""Recipes: the YAML that composes a dataset, a model, a loss and training settings.

Validation runs in passes and reports every problem at once as `FILE:LINE: field.path: message`:
1. structure: the `Recipe` schema below (pydantic, unknown keys forbidden);
2. components: each named component exists and its params validate against its own model;
3. cross-checks: chosen components support the target and each other (capability tags), then
   every check plugins registered.
Recipes never execute code: components resolve through the registry only.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from zoo.compose.kinds import KIND_NOUN
from zoo.compose.registry import ComponentSpec, Registry, UnknownComponentError
from zoo.compose.yaml_lines import YamlDocument, dotted, load_yaml, undotted
from zoo.errors import Problem, ProblemsError, UsageError
from zoo.paths import is_path_field, os_reason
from zoo.runs import RunFolder
from zoo.targets import TARGETS

if TYPE_CHECKING:
    from zoo.protocols import JsonValue

MAX_RECIPE_BYTES = 1024 * 1024
MAX_NAME = 128  # a recipe's name begins its run folders' names, which a file system caps at 255 bytes
MAX_WORKERS = 64
CompileMode = Literal["default", "reduce-overhead", "max-autotune"]  # torch.compile modes `train.compile` accepts
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)
PROBABILITIES = "probs"  # the capability tag of a head that gives class probabilities
SCALABLE = "scalable"  # the capability tag of a head whose outputs a temperature can scale (`scale`)
CDF = "cdf"  # the capability tag of a head whose outputs are the CDF, with 80 % intervals
AVERAGEABLE = "averageable"  # the capability tag of a head whose raw outputs may be averaged over transforms
# The names of the target table (zoo.targets; a test keeps them equal).
Target = Literal["percent", "stage", "binary", "svdh_erosion", "svdh_jsn", "landmarks"]


class Strict(BaseModel):
    """Base of every recipe section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ComponentRef(Strict):
    """A component by name with its params; a bare string means no params."""

    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("params", mode="before")
    @classmethod
    def _null_params(cls, value: object) -> object:
        return {} if value is None else value


class SplitConfig(Strict):
    """Patient-grouped split fractions."""

    train: float = Field(0.7, gt=0, lt=1)
    test: float = Field(0.2, ge=0, lt=1)
    val: float = Field(0.1, ge=0, lt=1)
    group_by: str = "patient_id"
    stratify: bool = True
    seed: int | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description="seeds the split alone (default: the recipe's seed); models trained with other seeds on one "
        "split can form an ensemble",
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.test + self.val
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + test + val must be 1, got {total:g}")
        return self


class AugmentConfig(Strict):
    """Random training augmentation (the thesis: rotation 25 deg, shear 0.1 rad, zoom 10 %)."""

    rotation: float = Field(25.0, ge=0, le=180, description="degrees")
    shear: float = Field(0.1, ge=0, le=1.0, description="radians")
    zoom: float = Field(0.1, ge=0, lt=1, description="fraction")
    flip: bool = False
    shift: float = Field(0.0, ge=0, le=0.5, description="largest shift, a fraction of the image's side")
    contrast: float = Field(
        0.0, ge=0, lt=1, description="largest change of contrast and of brightness, a fraction"
    )
    swap_on_flip: list[tuple[str, str]] = Field(
        default_factory=list,
        max_length=100,
        description="landmarks targets: pairs of points whose names swap when an image is flipped (a left and a "
        "right eye, say); a hand's joints keep their names",
    )


class DataConfig(Strict):
    """Where samples come from and how they are prepared."""

    dataset: ComponentRef
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=MAX_NAME,
        description="a name for this data, shown on the leaderboard and matched by 'zoo leaderboard --dataset' "
        "(letters, digits, '_', '.' and '-')",
    )
    target: Target = "stage"
    split: SplitConfig = Field(default_factory=SplitConfig)
    image_size: int = Field(150, ge=16, le=1024)
    augment: AugmentConfig | None = None
    equalize: Literal["none", "linear", "histogram"] = "none"
    on_bad_sample: Literal["error", "skip"] = "error"
    landmarks: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="landmarks target: the points the model locates, in this order (names the dataset gives)",
    )

    @model_validator(mode="after")
    def _landmarks_for_points(self) -> DataConfig:
        points = TARGETS[self.target].points
        if points and not self.landmarks:
            raise ValueError(f"target '{self.target}' needs data.landmarks: the names of the points to locate")
        if not points and self.landmarks:
            raise ValueError(f"data.landmarks is for a landmarks target, not '{self.target}'")
        if self.landmarks and len(set(self.landmarks)) != len(self.landmarks):
            raise ValueError("data.landmarks names a point more than once")
        augment = self.augment
        if augment is not None and not points and (augment.shift or augment.contrast or augment.swap_on_flip):
            raise ValueError(
                "augment.shift, contrast and swap_on_flip are for landmarks targets; crops are augmented by "
                "rotation, shear, zoom and flip"
            )
        named = set(self.landmarks or [])
        unknown = [n for pair in (augment.swap_on_flip if augment else []) for n in pair if n not in named]
        if unknown:
            raise ValueError(f"augment.swap_on_flip names '{unknown[0]}', which is not in data.landmarks")
        return self


class ModelConfig(Strict):
    """A backbone and a head, and optionally a trained model to start from."""

    backbone: ComponentRef
    head: ComponentRef
    pretrained: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="start from a trained model: a bundle's name ('zoo models list') or a run folder (relative "
        "to the recipe's folder, or on --set to the current one); every tensor whose name and shape match is "
        "loaded, after the backbone's own pretrained weights",
    )


class ExtraTarget(Strict):
    """One more target the model learns beside `data.target`, from the same backbone: its own
    head and loss; the loss is weighted against the main target's (weight 1)."""

    head: ComponentRef
    loss: ComponentRef
    weight: float = Field(1.0, gt=0, le=1000, allow_inf_nan=False, description="its loss's weight (the main's: 1)")


class OptimizerConfig(Strict):
    """The optimiser (the thesis: Adam, lr 0.001)."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(0.001, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    momentum: float = Field(0.9, ge=0, lt=1, allow_inf_nan=False)


class StageConfig(Strict):
    """One training stage; `freeze_backbone` trains only the head (transfer learning)."""

    epochs: int = Field(ge=1, le=100_000)
    freeze_backbone: bool = False
    lr: float | None = Field(None, gt=0, allow_inf_nan=False)


class EarlyStoppingConfig(Strict):
    """Stop when the monitored validation value stops improving; restore the best weights."""

    monitor: str = "val_loss"
    patience: int = Field(4, ge=1, le=100_000)
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: float = Field(0.0, ge=0, allow_inf_nan=False)


class TrainConfig(Strict):
    """Training settings (the thesis: batch 100, 25 epochs)."""

    batch_size: int = Field(100, ge=1, le=65_536)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    stages: list[StageConfig] = Field(default_factory=lambda: [StageConfig(epochs=25)], min_length=1)
    early_stopping: EarlyStoppingConfig | None = None
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="learning rate within each stage: constant, or cosine decay to zero"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    num_workers: int | str = Field(
        "auto",
        json_schema_extra={"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_WORKERS}, {"const": "auto"}]},
        description="loader worker processes: auto (none on CPU, where the model needs the cores; "
        "on CUDA, one per core but one, at most 8) or a number up to the machine's cores",
    )
    compile: bool | CompileMode = Field(
        False,
        description="compile the model with torch.compile: true (its default mode) or a mode; "
        "reduce-overhead replays each step's kernels as CUDA graphs (needs a C++ compiler on CPU)",
    )

    @field_validator("num_workers")
    @classmethod
    def _workers(cls, value: int | str) -> int | str:
        if value == "auto" or (isinstance(value, int) and 0 <= value <= MAX_WORKERS):
            return value
        raise ValueError(f"num_workers is auto or a whole number from 0 to {MAX_WORKERS}")

    @field_validator("compile", mode="before")
    @classmethod
    def _compile(cls, value: object) -> object:
        if isinstance(value, bool) or value in COMPILE_MODES:
            return value
        raise ValueError(f"compile is true, false or a torch.compile mode: {', '.join(COMPILE_MODES)}")

    @property
    def compile_mode(self) -> str | None:
        """torch.compile's mode for `compile`, or None when the model is not compiled."""
        if self.compile is False:
            return None
        return "default" if self.compile is True else self.compile


class TargetRate(Strict):
    """An operating point by the rate it must reach on the validation split."""

    sensitivity: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    specificity: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetRate:
        if (self.sensitivity is None) == (self.specificity is None):
            raise ValueError("give exactly one of sensitivity or specificity")
        return self


def _both_splits() -> list[Literal["val", "test"]]:
    return ["val", "test"]


class TtaConfig(Strict):
    """Test-time augmentation: the model's raw outputs averaged over fixed transforms of each crop."""

    flips: bool = Field(True, description="add the crop mirrored left to right")
    rotations: list[Literal[90, 180, 270]] = Field(
        default_factory=list, max_length=3, description="add the crop turned by these degrees"
    )

    @property
    def transforms(self) -> tuple[str, ...]:
        """The transforms averaged over, the crop as it is first (zoo.training.model.TTA_TRANSFORMS)."""
        return ("identity", *(["flip"] if self.flips else []), *(f"rot{r}" for r in sorted(set(self.rotations))))


class EvalConfig(Strict):
    """What to evaluate after training."""

    splits: list[Literal["val", "test"]] = Field(default_factory=_both_splits, min_length=1)
    metrics: list[str] | None = None
    bootstrap: int = Field(1000, ge=0, le=100_000)
    threshold: float | Literal["youden"] | TargetRate | None = Field(
        None,
        description="binary targets: P(eroded) at which a joint counts as eroded: a number in (0, 1), "
        "'youden', or {sensitivity: x} / {specificity: x}, chosen on the validation split; null: 0.5",
    )

    tta: TtaConfig | None = Field(
        None,
        description="test-time augmentation: average the model over fixed flips and rotations in evaluation, "
        "predict and export; null: none",
    )
    calibrate: Literal["temperature", "intervals"] | None = Field(
        None,
        description="temperature: one temperature scaling the main head's outputs, fitted on the validation "
        "split (never on test) for the likelihood of its labels and applied to every later prediction; "
        "intervals (CDF heads): the temperature fitted so that the 80 % intervals hold 80 % of the validation "
        "labels, and a margin widening the Rau score's intervals so that they do; null: none",
    )

    @field_validator("threshold")
    @classmethod
    def _probability(cls, value: object) -> object:
        if isinstance(value, float) and not 0 < value < 1:
            raise ValueError("a fixed threshold is a probability between 0 and 1")
        return value

    @property
    def threshold_on_validation(self) -> bool:
        """Whether the operating threshold is chosen on the validation split (a rule, not a number)."""
        return self.threshold is not None and not isinstance(self.threshold, float)

    @property
    def judged_splits(self) -> list[str]:
        """The splits judging reads: the evaluated ones, and validation when it chooses the
        threshold or fits the temperature."""
        on_validation = self.threshold_on_validation or self.calibrate is not None
        return sorted(set(self.splits) | ({"val"} if on_validation else set()))


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # a recipe's (and so a run folder's) name


class Recipe(Strict):
    """A whole experiment."""

    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=MAX_NAME,
        description=f"letters, digits, '_', '.' and '-', at most {MAX_NAME} (it names the run folder)",
    )
    description: str = ""
    seed: int = Field(0, ge=0, le=2**32 - 1, strict=True, description="a whole number from 0 to 2**32 - 1")
    data: DataConfig
    model: ModelConfig
    loss: ComponentRef
    imbalance: ComponentRef | None = None
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    track: ComponentRef | None = Field(
        None, description="an experiment tracker that follows the run ('zoo list trackers'); off when absent"
    )
    extra_targets: dict[Target, ExtraTarget] = Field(
        default_factory=dict,
        max_length=len(TARGETS) - 1,
        description="more targets learned from the same backbone, each with its own head and loss "
        "(multi-target models: e.g. svdh_jsn beside stage); data.target stays the run's main target",
    )

    @model_validator(mode="after")
    def _extra_targets(self) -> Recipe:
        main = self.data.target
        if main in self.extra_targets:
            raise ValueError(f"extra_targets names '{main}', the main target (data.target)")
        if self.extra_targets and TARGETS[main].points:
            raise ValueError("a landmarks model has no extra targets")
        points = [name for name in self.extra_targets if TARGETS[name].points]
        if points:
            raise ValueError(f"extra_targets: '{points[0]}' needs a model of its own (a locator)")
        return self

    @property
    def targets(self) -> list[str]:
        """Every target the model learns: the main one first, then the extra ones in recipe order."""
        return [self.data.target, *self.extra_targets]

    def to_dict(self) -> dict[str, JsonValue]:
        """A plain, JSON-ready dict. Fields a recipe leaves at their empty default since they were
        added are left out (`track`, `extra_targets`, `eval.calibrate`, `data.name`, `data.split.seed`, a
        crop recipe's landmarks fields), so that its resolved.yaml and hash are what they were before those existed."""
        data = self.model_dump(mode="json")
        if data["track"] is None:
            del data["track"]
        if not data["extra_targets"]:
            del data["extra_targets"]
        if data["data"]["landmarks"] is None:
            del data["data"]["landmarks"]
        if data["model"]["pretrained"] is None:
            del data["model"]["pretrained"]
        for setting in ("calibrate", "tta"):
            if data["eval"][setting] is None:
                del data["eval"][setting]
        if data["data"]["name"] is None:
            del data["data"]["name"]
        if data["data"]["split"]["seed"] is None:
            del data["data"]["split"]["seed"]
        augment = data["data"]["augment"]
        for name, unused in (("shift", 0.0), ("contrast", 0.0), ("swap_on_flip", [])):
            if augment is not None and augment[name] == unused:
                del augment[name]
        return data

    def to_yaml(self) -> str:
        """The recipe as YAML, in schema order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def digest(self) -> str:
        """A short sha256 of the resolved recipe (for provenance)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


COMPONENT_FIELDS: dict[tuple[str, ...], str] = {
    ("data", "dataset"): "datasets",
    ("model", "backbone"): "backbones",
    ("model", "head"): "heads",
    ("loss",): "losses",
    ("imbalance",): "imbalance",
    ("track",): "trackers",
}


EXTRA_COMPONENTS: dict[str, str] = {"head": "heads", "loss": "losses"}  # an extra target's components
SHARED_COMPONENTS = {("data", "dataset"), ("model", "backbone"), ("track",)}  # what every target's components share
WEIGHTED_LOSS = "weighted_loss"  # the capability tag of a loss that takes per-sample weights


def component_fields(data: object) -> dict[tuple[str, ...], str]:
    """The path and kind of every component a recipe (as parsed) may name: the fixed ones and each
    extra target's head and loss."""
    fields = dict(COMPONENT_FIELDS)
    extra = _get_path(data, ("extra_targets",))
    for name in extra if isinstance(extra, dict) else {}:
        fields.update({("extra_targets", str(name), part): kind for part, kind in EXTRA_COMPONENTS.items()})
    return fields


def components_of(recipe: Recipe) -> list[tuple[str, ComponentRef]]:
    """(kind, reference) of every component the recipe names."""
    data = recipe.to_dict()
    found = [(kind, _get_path(data, path)) for path, kind in component_fields(data).items()]
    return [(kind, ComponentRef.model_validate(ref)) for kind, ref in found if ref is not None]


def target_of(recipe: Recipe, path: tuple[str, ...]) -> str | None:
    """The target the component at `path` serves: an extra target's own, the dataset none (it
    serves them all), the others the main target."""
    if path[0] == "extra_targets":
        return path[1]
    return None if path == ("data", "dataset") else recipe.data.target


def _get_path(data: object, path: tuple[str, ...]) -> object:
    """The value at a key path of nested dicts, or None where the path does not exist."""
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


class _Locator:
    """Turns a field path into `FILE:LINE` or `--set KEY=VALUE`, whichever produced it."""

    def __init__(self, doc: YamlDocument, overrides: dict[tuple[str, ...], str]) -> None:
        self.doc = doc
        self.overrides = overrides

    def __call__(self, path: tuple[str | int, ...]) -> str:
        key = tuple(str(p) for p in path)
        for override_path, text in self.overrides.items():
            n = min(len(key), len(override_path))
            if n and key[:n] == override_path[:n]:
                return f"--set {text}"
        return self.doc.location(path)


def apply_overrides(data: dict[str, object], overrides: list[str]) -> dict[tuple[str, ...], str]:
    """Apply `a.b.c=value` overrides in place (values parse as YAML); return path -> text.

    A path may create missing mappings but never descends into a scalar; list items are
    addressed by index (`train.stages.0.epochs=1`).
    """
    applied: dict[tuple[str, ...], str] = {}
    problems: list[Problem] = []
    for text in overrides:
        key, sep, raw = text.partition("=")
        parts = tuple(key.strip().split("."))
        where = f"--set {text}"
        if not sep or not key.strip() or any(not p for p in parts):
            problems.append(Problem(where, "", "expected KEY=VALUE with a dotted key, e.g. train.batch_size=32"))
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            problems.append(Problem(where, key, "the value is not valid YAML"))
            continue
        node: object = data
        for depth, part in enumerate(parts):
            here = ".".join(parts[:depth]) or "the recipe"
            last = depth == len(parts) - 1
            if isinstance(node, dict):
                if last:
                    node[part] = value
                    applied[parts] = text
                elif node.get(part) is None:
                    node[part] = {}
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                if last:
                    node[int(part)] = value
                    applied[parts] = text
                node = node[int(part)]
            else:
                problems.append(Problem(where, key, _no_descent(here, part, node)))
                break
    if problems:
        raise ProblemsError(problems, "bad --set override", hint="use --set section.field=value")
    return applied


def _no_descent(here: str, part: str, node: object) -> str:
    if isinstance(node, list):
        return f"'{here}' is a list of {len(node)}; '{part}' is not an index in it"
    return f"'{here}' is a single value ({type(node).__name__}), it has no field '{part}'"


def _field_names(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The field names of the (nested) model at `path`, for suggestions."""
    current: object = model
    for part in path:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _message(error: ErrorDetails, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        names = _field_names(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        tip = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown field{tip} (fields: {', '.join(names)})" if names else f"unknown field{tip}"
    if kind == "missing":
        return "required field is missing"
    message = error["msg"]
    if kind.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    return message


def _structure_problems(
    exc: ValidationError,
    model: type[BaseModel],
    prefix: tuple[str | int, ...],
    locate: _Locator,
    label: str = "",
) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        path = (*prefix, *loc)
        message = _message(error, model, loc)
        problems.append(Problem(locate(path), dotted(path), f"{label}: {message}" if label else message))
    return problems


def _component_problems(
    raw: dict[str, object], registry: Registry, locate: _Locator
) -> tuple[list[Problem], dict[tuple[str, ...], ComponentSpec]]:
    """Pass 2: every component named exists and its params validate."""
    problems: list[Problem] = []
    specs: dict[tuple[str, ...], ComponentSpec] = {}
    for path, kind in component_fields(raw).items():
        value = _get_path(raw, path)
        if value is None:
            continue
        try:
            ref = ComponentRef.model_validate(value)
        except ValidationError:
            continue  # reported by the structure pass
        try:
            spec = registry.get(kind, ref.name)
        except UnknownComponentError as exc:
            problems.append(Problem(locate((*path, "name")), dotted((*path, "name")), f"{exc.message} ({exc.hint})"))
            continue
        specs[path] = spec
        try:
            spec.params.model_validate(ref.params)
        except ValidationError as exc:
            problems += _structure_problems(exc, spec.params, (*path, "params"), locate, spec.label)
    metrics = _get_path(raw, ("eval", "metrics"))
    if isinstance(metrics, list):
        for index, name in enumerate(metrics):
            if not isinstance(name, str):
                continue
            try:
                registry.get("metrics", name)
            except UnknownComponentError as exc:
                where = ("eval", "metrics", index)
                problems.append(Problem(locate(where), dotted(where), f"{exc.message} ({exc.hint})"))
    return problems, specs


def _capability_problems(
    recipe: Recipe,
    specs: dict[tuple[str, ...], ComponentSpec],
    registry: Registry,
    locate: _Locator,
) -> list[Problem]:
    """Pass 3a: the chosen components support the target and provide what the others require."""
    problems = []
    for path, spec in specs.items():
        where = (*path, "name")
        served = target_of(recipe, path)
        group = path[:2] if path[0] == "extra_targets" else None  # an extra target's head and loss go together
        provided = {
            tag
            for other, other_spec in specs.items()
            for tag in other_spec.provides
            if other in SHARED_COMPONENTS or (other[:2] if other[0] == "extra_targets" else None) == group
        }
        if group is not None and path[-1] == "loss" and WEIGHTED_LOSS not in spec.provides:
            problems.append(
                Problem(
                    locate(where),
                    dotted(where),
                    f"{spec.label} takes no per-sample weights, which an extra target's loss needs to leave "
                    "out samples without its label",
                )
            )
        for target in recipe.targets if served is None else [served]:
            if spec.targets is not None and target not in spec.targets:
                problems.append(
                    Problem(
                        locate(where),
                        dotted(where),
                        f"{spec.label} does not support target '{target}' "
                        f"(it supports: {', '.join(sorted(spec.targets))})",
                    )
                )
        for tag in sorted(spec.requires - provided):
            offer = [f"{KIND_NOUN[s.kind]} '{s.name}'" for s in registry.components() if tag in s.provides]
            problems.append(
                Problem(
                    locate(where),
                    dotted(where),
                    f"{spec.label} needs a component that provides '{tag}'"
                    + (f" (provided by: {', '.join(offer)})" if offer else ""),
                )
            )
    return problems


def validate_document(
    doc: YamlDocument,
    registry: Registry,
    overrides: list[str] | None = None,
    folder: Path | None = None,
    checks: bool = True,
) -> Recipe:
    """Validate a parsed recipe document; return the resolved recipe or raise `ProblemsError`.

    `folder` is the recipe file's folder: relative `RecipePath` params resolve against it (params
    set with --set resolve against the working directory); without it they stay as written.
    `checks=False` skips the plugins' registered checks, which may look at the environment (a
    weights file): a finished run's recipe is re-read without them.
    """
    if doc.data is None:
        raise UsageError(f"{doc.source}: the recipe is empty", hint="start from recipes/quickstart.yaml")
    if not isinstance(doc.data, dict):
        raise UsageError(
            f"{doc.source}: a recipe must be a mapping of sections, not a {type(doc.data).__name__}",
            hint="start from recipes/quickstart.yaml",
        )
    raw = doc.data
    locate = _Locator(doc, apply_overrides(raw, overrides or []))

    problems: list[Problem] = []
    recipe: Recipe | None = None
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        problems += _structure_problems(exc, Recipe, (), locate)
    component_problems, specs = _component_problems(raw, registry, locate)
    problems += component_problems
    if recipe is not None and not problems:
        recipe = _resolve(recipe, specs, folder, set(locate.overrides))
        problems += _capability_problems(recipe, specs, registry, locate)
        head = specs.get(("model", "head"))
        if recipe.eval.threshold is not None and not TARGETS[recipe.data.target].decision:
            where = ("eval", "threshold")
            problems.append(Problem(locate(where), dotted(where), "an operating threshold is for binary targets"))
        elif recipe.eval.threshold is not None and head is not None and PROBABILITIES not in head.provides:
            where = ("eval", "threshold")
            problems.append(
                Problem(
                    locate(where),
                    dotted(where),
                    f"an operating threshold needs class probabilities, and {head.label} gives none",
                )
            )
        problems += _calibration_problems(recipe, head, registry, locate)
        problems += _tta_problems(recipe, head, registry, locate)
        for check in registry.checks() if checks else []:
            try:
                found = check.load()(recipe, registry)
            except Exception as exc:
                raise UsageError(
                    f"check '{check.name}' of plugin '{check.plugin}' failed: {type(exc).__name__}",
                    hint="report this to the plugin's authors; disable it with ZOO_PLUGINS",
                ) from exc
            problems += [Problem(locate(undotted(p)), p, m) for p, m in found]
    if problems:
        problems.sort(key=lambda p: _sort_key(p, doc.source))
        noun = "problem" if len(problems) == 1 else "problems"
        raise ProblemsError(
            problems,
            f"{doc.source}: {len(problems)} {noun} in the recipe",
            hint="fix the lines above; 'zoo list KIND' shows the components and their params",
        )
    assert recipe is not None
    return recipe


def _calibration_problems(
    recipe: Recipe, head: ComponentSpec | None, registry: Registry, locate: _Locator
) -> list[Problem]:
    """`eval.calibrate` needs a validation split to fit on and a head a temperature can scale;
    `intervals` a head with a CDF (whose intervals it calibrates)."""
    if recipe.eval.calibrate is None:
        return []
    where = ("eval", "calibrate")
    problems = []
    if recipe.data.split.val == 0:
        problems.append(
            Problem(
                locate(where),
                dotted(where),
                "calibration is fitted on the validation split, and data.split.val is 0",
            )
        )
    if head is not None:
        missing = f"calibration scales a head's outputs by a temperature, which {head.label} does not allow"
        problems += _head_lacks(head, SCALABLE, missing, registry, locate, where)
        if recipe.eval.calibrate == "intervals":
            missing = f"'intervals' calibrates the intervals of a CDF, and {head.label} gives none"
            problems += _head_lacks(head, CDF, missing, registry, locate, where)
    return problems


def _tta_problems(recipe: Recipe, head: ComponentSpec | None, registry: Registry, locate: _Locator) -> list[Problem]:
    """`eval.tta` needs a head whose raw outputs may be averaged over transforms (class logits, a CDF)."""
    if recipe.eval.tta is None or head is None:
        return []
    missing = f"test-time augmentation averages the head's outputs over transforms, which {head.label} does not allow"
    return _head_lacks(head, AVERAGEABLE, missing, registry, locate, ("eval", "tta"))


def _head_lacks(
    head: ComponentSpec, tag: str, missing: str, registry: Registry, locate: _Locator, where: tuple[str, ...]
) -> list[Problem]:
    """The problem at `where` of a head without capability `tag` (`missing` says why it matters),
    naming the heads that have it; none when the head has it."""
    if tag in head.provides:
        return []
    offer = [spec.name for spec in registry.components("heads") if tag in spec.provides]
    named = f" (heads that do: {', '.join(offer)})" if offer else ""
    return [Problem(locate(where), dotted(where), missing + named)]


def _sort_key(problem: Problem, source: str) -> tuple[int, int, str]:
    location = problem.location
    if location.startswith(source + ":"):
        tail = location[len(source) + 1 :]
        return (0, int(tail) if tail.isdigit() else 0, problem.path)
    return (1, 0, location)


def _resolve(
    recipe: Recipe,
    specs: dict[tuple[str, ...], ComponentSpec],
    folder: Path | None,
    overridden: set[tuple[str, ...]],
) -> Recipe:
    """Fill every component's params with its defaults, and make its `RecipePath` params absolute,
    so the resolved recipe is complete and works from any working directory."""
    data = recipe.model_dump(mode="python")
    for path, spec in specs.items():
        ref = _get_path(data, path)
        assert isinstance(ref, dict)  # a component the recipe names: a dumped `ComponentRef`
        params = spec.params.model_validate(ref["params"]).model_dump(mode="json")
        for name, field in spec.params.model_fields.items():
            value = params.get(name)
            if not isinstance(value, str) or not is_path_field(field):
                continue
            given = Path(value).expanduser()
            if not given.is_absolute():
                if (*path, "params", name) in overridden:
                    given = Path.cwd() / given
                elif folder is not None:
                    given = folder / given
                else:
                    continue
            params[name] = str(given.resolve())
        ref["params"] = params
    pretrained = recipe.model.pretrained  # a run folder, like a file param; a bundle's name stays a name
    if pretrained is not None and ("model", "pretrained") not in overridden and folder is not None:
        given = Path(pretrained).expanduser()
        if not given.is_absolute() and (folder / given).is_dir():
            data["model"]["pretrained"] = str((folder / given).resolve())
    return Recipe.model_validate(data)


def read_recipe_text(path: Path) -> str:
    """Read a recipe file; a missing or unreadable file is a `UsageError`."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(
            f"recipe file '{os.path.abspath(path)}' does not exist",
            hint="check the path; the zoo's recipes are in recipes/",
        ) from None
    except (OSError, ValueError) as exc:  # a symlink loop, a name too long, a NUL in the name
        raise UsageError(f"cannot read recipe '{path}': {os_reason(exc)}", hint="check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"'{path}' is a folder, not a recipe file", hint="give a .yaml file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"'{path}' is not a regular file (a pipe or a device?)", hint="give a .yaml file")
    if info.st_size > MAX_RECIPE_BYTES:
        raise UsageError(
            f"recipe '{path}' is larger than {MAX_RECIPE_BYTES // 1024} KiB", hint="is it really a recipe?"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe '{path}': {os_reason(exc)}", hint="is it a text file?") from None


def load_recipe(path: str | Path, registry: Registry, overrides: list[str] | None = None) -> Recipe:
    """Read, parse and validate a recipe file."""
    path = Path(path)
    doc = load_yaml(read_recipe_text(path), str(path))
    return validate_document(doc, registry, overrides, Path(os.path.abspath(path)).parent)


def load_run_recipe(run: RunFolder, registry: Registry) -> Recipe:
    """The resolved recipe a run was started with (re-read without the plugins' checks, which may
    look at the environment: a finished run needs no pretrained weights file)."""
    path = run.resolved_file
    if not path.is_file():
        raise UsageError(
            f"'{run.path}' is not a run folder (no resolved.yaml)",
            hint="give a folder made by 'zoo run'",
        )
    return validate_document(load_yaml(path.read_text(), str(path)), registry, checks=False)
