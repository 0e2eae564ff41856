"""The hooks a plugin implements: to add components and commands to the zoo, and to follow runs.

Registration hooks receive one argument, `register`, a callable with the signature

    register(name, factory, *, params=None, description="", targets=None,
             provides=(), requires=(), ...)

`factory` is the callable that builds the component, or a `"module:attr"` string that is
imported only when the component is built (so that listing never imports torch). `params` is a
pydantic model with `extra="forbid"`; a recipe's params for the component are validated against
it. Lifecycle hooks (`zoo_run_started`, `zoo_epoch_ended`, `zoo_run_finished`) hear every run
while it happens, and `zoo_report_sections` adds to `zoo analyze`'s report. See docs/hooks.md
for the protocol of each kind and each hook's arguments, and docs/writing-a-plugin.md for an
example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from zoo.protocols import Commands, RegisterCheck, RegisterComponent, ReportWriter
    from zoo.runs import Results, RunFolder, RunInfo

PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register_backbones(register: RegisterComponent) -> None:
    """Register backbones: networks that map an image batch to a feature vector per image.

    The factory is called as `factory(params, in_chans=C)` and returns an `nn.Module` mapping
    `(B, C, H, W)` to `(B, num_features)` with an integer attribute `num_features`; a backbone
    registered with `provides=["feature_map"]` gives a map `(B, num_features, h, w)` instead.
    """


@hookspec
def zoo_register_heads(register: RegisterComponent) -> None:
    """Register heads: modules on top of a backbone that produce the model's outputs.

    The factory is called as `factory(params, in_features=F, target=T)` (a `landmarks` head also
    gets `landmarks=[names]`) and returns an `nn.Module` whose forward maps `(B, F)` features (or
    a feature map) to raw outputs and whose `predict(outputs)` turns them into predictions for
    target `T`.
    """


@hookspec
def zoo_register_losses(register: RegisterComponent) -> None:
    """Register losses: `loss(outputs, targets, weights=None) -> scalar tensor`.

    The factory is called as `factory(params, target=T)` and returns the loss callable.
    """


@hookspec
def zoo_register_imbalance(register: RegisterComponent) -> None:
    """Register imbalance strategies: what to do about rare classes during training.

    The factory is called as `factory(params)` and returns an object with
    `sampler(classes, seed)` (a sampler over the training samples, or None) and
    `class_weights(classes, n_classes)` (a weight per class, or None).
    """


@hookspec
def zoo_register_datasets(register: RegisterComponent) -> None:
    """Register datasets: sources of labelled joint crops.

    The factory is called as `factory(params)` and returns a pandas DataFrame with one row per
    sample (columns documented in docs/data.md: at least `image`, `percent` or `label`, and
    `patient_id`).
    """


@hookspec
def zoo_register_metrics(register: RegisterComponent) -> None:
    """Register metrics: numbers computed from a table of predictions.

    The factory is called as `factory(params)` and returns `metric(predictions) -> float`.
    """


@hookspec
def zoo_register_trackers(register: RegisterComponent) -> None:
    """Register trackers: experiment trackers a recipe turns on with `track: NAME`.

    The factory is called as `factory(params)` and returns a plugin object (methods marked with
    `@hookimpl`, usually the lifecycle hooks). The zoo registers it on its plugin manager for the
    duration of a run that tracks with it, and only then: a tracker is off unless a recipe names it.
    """


@hookspec
def zoo_register_models(register: RegisterComponent) -> None:
    """Register trained models: bundles a user scores with by name (`zoo models list`).

    The factory is called as `factory(params)` and returns the bundle's folder (a `Path`): a
    finished run's model with its recipe, metrics and model card (docs/models.md). `targets` names
    the model's target (`landmarks` for a joint locator, `stage` for an erosion scorer).
    """


@hookspec
def zoo_register_checks(register: RegisterCheck) -> None:
    """Register recipe cross-checks that run after every component's params validated.

    `register(name, check, *, description="")`; `check(recipe, registry)` returns a list of
    `(field_path, message)` pairs, empty when the recipe is fine. A check may be a
    `"module:attr"` string.
    """


@hookspec
def zoo_register_commands(commands: Commands) -> None:
    """Add CLI commands: `commands.root` is the `zoo` typer app, `commands.data` is `zoo data`.

    Example: `commands.data.command("phantom")(phantom_command)`. Keep the module that defines
    the command light (no torch import at module level): it is imported for every `zoo` call.
    """


@hookspec
def zoo_run_started(run: RunInfo) -> None:
    """A run starts training: its folder holds the recipe, the split and env.json.

    `run.resumed` is True when `zoo run --resume` continues it (its earlier epochs are in
    history.csv). Called on the main process only, like the other lifecycle hooks.
    """


@hookspec
def zoo_epoch_ended(run: RunInfo, epoch: int, metrics: dict[str, float]) -> None:
    """An epoch ended: `epoch` counts from 1 across stages; `metrics` is its row of history.csv
    (train_loss, the validation values, lr, seconds, images_per_s, ...)."""


@hookspec
def zoo_run_finished(run: RunInfo, results: Results) -> None:
    """A run was judged: `results` is metrics.json's content (every evaluated split's metrics with
    their intervals); the run folder is complete and its leaderboard rows are written."""


@hookspec
def zoo_report_sections(run: RunFolder, report: ReportWriter) -> None:
    """Add sections to `zoo analyze`'s report of a finished run, after the zoo's own.

    Write through `report` (headings, paragraphs, tables, matplotlib figures); read the run
    through `run` (metrics.json, predictions, history).
    """
