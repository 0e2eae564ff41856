"""The hooks a plugin implements to add components to the zoo.

Every hook receives one argument, `register`, a callable with the signature

    register(name, factory, *, params=None, description="", targets=None,
             provides=(), requires=())

`factory` is the callable that builds the component, or a `"module:attr"` string that is
imported only when the component is built (so that listing never imports torch). `params` is a
pydantic model with `extra="forbid"`; a recipe's params for the component are validated against
it. See docs/hooks.md for the protocol of each kind and docs/writing-a-plugin.md for an example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from zoo.cli.commands import Commands
    from zoo.compose.registry import RegisterCheck, RegisterComponent

PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_register_backbones(register: RegisterComponent) -> None:
    """Register backbones: networks that map an image batch to a feature vector per image.

    The factory is called as `factory(params, in_chans=C)` and returns an `nn.Module` mapping
    `(B, C, H, W)` to `(B, num_features)` with an integer attribute `num_features`.
    """


@hookspec
def zoo_register_heads(register: RegisterComponent) -> None:
    """Register heads: modules on top of a backbone that produce the model's outputs.

    The factory is called as `factory(params, in_features=F, target=T)` and returns an
    `nn.Module` whose forward maps `(B, F)` features to raw outputs and whose
    `predict(outputs)` turns them into predictions for target `T`.
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
