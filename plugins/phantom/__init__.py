"""The phantom: synthetic finger-joint crops with known erosion, the zoo's built-in data.

A plugin of its own: the `phantom` dataset (a population, a renderer, a generator that writes the
thesis's SCQM format and reads it back through the `scqm` dataset) and `zoo data phantom`.
"""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import Commands, RegisterCheck, RegisterComponent


@hookimpl
def zoo_register_datasets(register: RegisterComponent) -> None:
    """Register the phantom."""
    register(
        "phantom",
        "zoo_plugins.phantom.generator:build",
        params="zoo_plugins.phantom.params:PhantomParams",
        description="synthetic joint crops with known erosion (the default data)",
    )


@hookimpl
def zoo_register_checks(register: RegisterCheck) -> None:
    """Register the phantom's recipe check."""
    register(
        "phantom_labels",
        "zoo_plugins.phantom.checks:phantom_labels",
        description="the phantom labels erosion (percent, stage, binary, SvdH erosion) and SvdH JSN",
    )


@hookimpl
def zoo_register_commands(commands: Commands) -> None:
    """Add `zoo data phantom`."""
    from .commands import phantom_command

    commands.data.command("phantom")(phantom_command)
