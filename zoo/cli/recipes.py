"""`zoo validate` and `zoo run`: check recipes and run them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from zoo.cli.components import loaded_plugins
from zoo.cli.output import report_error
from zoo.errors import NotBuiltError, UsageError

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a recipe field: --set train.batch_size=32 (repeatable)."),
]


def validate(
    recipes: Annotated[list[Path], typer.Argument(help="Recipe files to check.")],
    overrides: SetOption = None,
) -> None:
    """Check recipes without running them; report every problem with its line."""
    from zoo.recipe import load_recipe

    registry = loaded_plugins().registry
    failed = 0
    for path in recipes:
        try:
            recipe = load_recipe(path, registry, overrides)
        except UsageError as error:
            report_error(error)
            failed += 1
            continue
        sys.stdout.write(f"ok: {path} (recipe '{recipe.name}')\n")
    if failed:
        raise typer.Exit(2)


def run(
    recipes: Annotated[list[Path], typer.Argument(help="Recipe files to run, one after another.")],
    overrides: SetOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the resolved recipe and stop.")
    ] = False,
) -> None:
    """Train and evaluate the model each recipe describes."""
    from zoo.recipe import load_recipe

    registry = loaded_plugins().registry
    resolved = [load_recipe(path, registry, overrides) for path in recipes]
    if dry_run:
        for path, recipe in zip(recipes, resolved, strict=True):
            sys.stdout.write(f"# {path} (resolved)\n{recipe.to_yaml()}")
        return
    raise NotBuiltError(
        "training is not available yet",
        hint="use 'zoo run RECIPE --dry-run' to see the resolved recipe",
    )
