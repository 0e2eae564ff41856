"""`zoo schema`: the recipe JSON Schema, with the installed plugins' components, for editors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from zoo.cli.components import loaded_plugins
from zoo.output import writable_file


def write_schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the schema to this file (default: standard output).")
    ] = None,
) -> None:
    """Print the recipe JSON Schema, with every installed component and its params (for editors)."""
    from zoo.compose.schema import recipe_schema

    if out is not None:
        writable_file(out)
    text = json.dumps(recipe_schema(loaded_plugins().registry), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote the recipe schema to {out}\n")
