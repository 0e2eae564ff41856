"""The command groups plugins may extend through `zoo_register_commands`."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class Commands:
    """`root` is the `zoo` app; `data` is the `zoo data` group."""

    root: typer.Typer
    data: typer.Typer
