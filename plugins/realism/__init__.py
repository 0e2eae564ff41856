"""`zoo data realism`: how far the phantom is from real healthy finger-joint crops.

A tool of its own, registered like any plugin: it trains its small CNN through the zoo's own
recipe path (`transfer.yaml` and `two_sample.yaml` beside this module, run by the `Pipeline`
that `zoo_register_commands` hands over), never through a loop of its own.
"""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import Commands


@hookimpl
def zoo_register_commands(commands: Commands) -> None:
    """Add `zoo data realism`."""
    from .commands import realism_command

    commands.data.command("realism")(realism_command(commands.pipeline))
