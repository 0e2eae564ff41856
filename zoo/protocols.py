"""The contracts between the core and its components: what the core calls, typed.

Every component a plugin registers is built by its factory (`build(params, **context)`) and
must then satisfy the protocol of its kind. The core calls nothing else on it: no optional
methods found by name, and one probing forward pass only (a multi-target model runs each head
once on zero features when it is built, to learn its output width). Third-party plugins type against these
protocols; `docs/hooks.md` documents them and the test suite checks every built-in component.

- `Backbone`: (B, C, H, W) images in [0, 1] to (B, num_features) features; declares the
  layer whose feature map attention maps explain.
- `Head`: features to raw outputs; declares the target it serves and the outputs `predict`
  gives; gives its last hidden layer (`embed`) and a differentiable severity (`severity`).
- `Loss`: (outputs, targets, per-sample weights or None) to a scalar.
- `ImbalanceStrategy`: an epoch sampler (or None: a plain shuffle) and class weights (or None).
- `Dataset`: the factory's return value, a table of samples (`DATASET_COLUMNS`, one label
  column named after its scale).
- `Metric`: predictions to a number, with its direction and optional proportion counts.
- `Model`: what training hands judging and what finished runs are used through: a backbone and
  head whose raw outputs `predict` turns into predictions.

And what the hooks hand plugins: `RegisterComponent` and `RegisterCheck` (the `register`
callables of the registration hooks), `Commands` (the command groups `zoo_register_commands`
extends, with the `Pipeline` that trains and scores for them) and `ReportWriter` (what
`zoo_report_sections` writes into). `CheckedRecipe` is what a recipe check reads of a recipe,
`ComponentChoice` a component as a recipe names it, and `JsonValue` a JSON value of whatever
shape (what the zoo writes or passes on without reading it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import pandas as pd
    import torch
    import typer
    from matplotlib.figure import Figure
    from pydantic import BaseModel
    from torch import nn

    from zoo.predictions import Predictions
    from zoo.runs import Results

# A JSON value of whatever shape: what the zoo writes or hands on without reading it field by field.
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]

DATASET_COLUMNS = ("sample_id", "image", "patient_id")  # plus label columns named after scales (zoo.targets)


@runtime_checkable
class Backbone(Protocol):
    """A feature extractor (an `nn.Module`)."""

    num_features: int  # the width of the pooled features

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) in [0, 1] to (B, num_features); a backbone that provides
        `feature_map` gives (B, num_features, h, w)."""
        ...

    def feature_layer(self) -> nn.Module:
        """The module whose output, a (B, C, h, w) feature map, attention maps explain."""
        ...


@runtime_checkable
class Head(Protocol):
    """Features to outputs, and outputs to predictions (an `nn.Module`)."""

    target: str  # the target it serves: a name of the target table (zoo.targets)
    outputs: frozenset[str]  # the keys `predict` returns, `pred` always among them

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """(B, num_features) to raw outputs (what the loss reads)."""
        ...

    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs to predictions: `pred` (B,), and `probs`, `cdf`, ... as declared."""
        ...

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (for t-SNE and nearest neighbours)."""
        ...

    def severity(self, outputs: torch.Tensor) -> torch.Tensor:
        """A differentiable severity per sample (B,): what attention maps explain."""
        ...


@runtime_checkable
class AverageableHead(Head, Protocol):
    """A head whose raw outputs can be averaged over passes (test-time augmentation, ensembles):
    the heads that provide the `averageable` capability."""

    def average(self, outputs: torch.Tensor) -> torch.Tensor:
        """Raw outputs of several passes stacked (M, B, ...) to one pass's raw outputs (B, ...)
        whose predictions are the passes' mean probabilities (or mean CDF)."""
        ...


@runtime_checkable
class ScalableHead(Head, Protocol):
    """A head whose outputs a temperature can sharpen or soften: the heads that provide the
    `scalable` capability (`eval.calibrate`)."""

    def scale(self, outputs: torch.Tensor, temperature: float) -> torch.Tensor:
        """Raw outputs (B, ...) at `temperature`: below 1 sharper, above 1 softer, 1 unchanged."""
        ...


@runtime_checkable
class Loss(Protocol):
    """A training loss."""

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Raw outputs, float targets and optional per-sample weights to a scalar."""
        ...


@dataclass(frozen=True)
class EpochDraw:
    """One epoch's sample order: indices into the training split, and which draws are repeats."""

    indices: np.ndarray  # int64 (M,)
    copies: np.ndarray  # bool (M,): True where a repeated sample should be augmented

    def __post_init__(self) -> None:
        if self.indices.shape != self.copies.shape:
            raise ValueError("an epoch draw needs one copy flag per index")


@runtime_checkable
class EpochSampler(Protocol):
    """The sample order of every epoch."""

    def __len__(self) -> int:
        """Draws per epoch."""
        ...

    def draw(self, epoch: int) -> EpochDraw:
        """The order of epoch `epoch` (the same for the same seed and epoch)."""
        ...


@runtime_checkable
class ImbalanceStrategy(Protocol):
    """How the trainer treats rare classes."""

    def sampler(self, classes: np.ndarray, seed: int) -> EpochSampler | None:
        """An epoch sampler over the training samples' classes, or None for a plain shuffle."""
        ...

    def class_weights(self, classes: np.ndarray, n_classes: int) -> np.ndarray | None:
        """One loss weight per class, or None."""
        ...


@runtime_checkable
class Metric(Protocol):
    """A metric: predictions to a number."""

    higher_is_better: bool
    counts: Callable[[Predictions], tuple[int, int]] | None  # (successes, trials): a proportion
    needs_every_class: bool  # undefined on a resample that lacks a true class of the data

    def __call__(self, predictions: Predictions) -> float:
        """The metric's value (NaN where undefined)."""
        ...


@runtime_checkable
class Model(Protocol):
    """A trained model (an `nn.Module`): images to raw outputs, raw outputs to predictions. A
    multi-target model gives every target's outputs in one call; `predict` reads the main one's."""

    targets: tuple[str, ...]  # the main target first, then a multi-target model's extra ones
    temperature: float  # divides the main head's logits before its prediction step (1: none)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) images in [0, 1] to raw outputs."""
        ...

    def predict(self, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs to predictions (`pred`, and `probs`, `cdf`, ... as its head declares)."""
        ...

    def predict_target(self, outputs: torch.Tensor, target: str) -> dict[str, torch.Tensor]:
        """Raw outputs to the predictions of one of `targets`."""
        ...

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) images to the head's last hidden layer."""
        ...


# A factory, check, preflight or params model: the object itself, or a "module:attr" string
# imported only when it is first used (so that loading plugins stays light).
Reference = str | Callable[..., Any]


class ComponentChoice(Protocol):
    """A component as a recipe names it (`{name, params}`): what the core builds it from, and what
    recipe checks read of it."""

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> Mapping[str, object]: ...


class ModelChoice(Protocol):
    """A recipe's `model` section: its backbone and its head."""

    @property
    def backbone(self) -> ComponentChoice: ...

    @property
    def head(self) -> ComponentChoice: ...


class DataChoice(Protocol):
    """What recipe checks read of a recipe's `data` section."""

    @property
    def dataset(self) -> ComponentChoice: ...

    @property
    def target(self) -> str: ...

    @property
    def image_size(self) -> int: ...


class CheckedRecipe(Protocol):
    """A resolved recipe, as a recipe check (`zoo_register_checks`) reads it: `check(recipe,
    registry)` gives (field path, message) pairs, none when the recipe is fine."""

    @property
    def name(self) -> str: ...

    @property
    def data(self) -> DataChoice: ...

    @property
    def model(self) -> ModelChoice: ...

    @property
    def targets(self) -> list[str]:
        """Every target the model learns: `data.target` first, then the extra targets."""
        ...


class RegisterComponent(Protocol):
    """The `register` callable a `zoo_register_<kind>` hook receives (docs/hooks.md)."""

    def __call__(
        self,
        name: str,
        factory: Reference,
        *,
        params: type[BaseModel] | str | None = None,
        description: str = "",
        targets: Iterable[str] | None = None,
        provides: Iterable[str] = (),
        requires: Iterable[str] = (),
        preflight: Reference | None = None,
        restore_params: Reference | None = None,
        display: str | None = None,
        ranks: Iterable[str] = (),
    ) -> None: ...


class RegisterCheck(Protocol):
    """The `register` callable the `zoo_register_checks` hook receives."""

    def __call__(self, name: str, check: Reference, *, description: str = "") -> None: ...


class Pipeline(Protocol):
    """The zoo's own recipe path and scoring, for the commands plugins add (`Commands.pipeline`): a
    tool trains and scores through it exactly as `zoo run` and `zoo predict` do, without importing
    the core's layers."""

    def run(
        self, recipe: Path, runs_dir: Path, overrides: Sequence[str] = (), quiet: bool = True
    ) -> tuple[Path, Results]:
        """Validate, train and judge a recipe file (`zoo run RECIPE --set ...`); return the run
        folder and metrics.json's content. `quiet` hides the progress and the epoch lines."""
        ...

    def predict(self, run: Path, inputs: Sequence[Path]) -> pd.DataFrame:
        """Score image files (or folders, or a dataset CSV) with a finished run (`zoo predict`):
        one row per image, with its status."""
        ...


@dataclass(frozen=True)
class Commands:
    """What `zoo_register_commands` extends: `root` is the `zoo` app, `data` the `zoo data` group;
    `pipeline` trains and scores for the commands that need it."""

    root: typer.Typer
    data: typer.Typer
    pipeline: Pipeline


class ReportWriter(Protocol):
    """A section of `zoo analyze`'s report, as a plugin writes it (`zoo_report_sections`).

    Text is escaped: a plugin cannot put markup into the page. Figures are saved as PNG beside
    report.html and embedded in it.
    """

    def heading(self, text: str) -> None:
        """A section heading."""
        ...

    def text(self, text: str) -> None:
        """A paragraph."""
        ...

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """A small table."""
        ...

    def figure(self, figure: Figure, name: str, caption: str) -> None:
        """A matplotlib figure, saved as `<name>.png` and shown with its caption."""
        ...
