"""`zoo validate` and `zoo run`: check recipes and run them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zoo.cli.components import component_names, loaded_plugins
from zoo.cli.messages import report_error
from zoo.errors import UsageError, disk_full, resume_after_disk_full
from zoo.output import OutputFormat, print_json, writable_folder

if TYPE_CHECKING:  # imported lazily so that `zoo --help` stays fast
    from zoo.compose.plugins import Plugins
    from zoo.compose.recipe import Recipe
    from zoo.compose.registry import Registry
    from zoo.runs import Results

RECIPE_SUFFIXES = (".yaml", ".yml")


def complete_recipe(incomplete: str) -> list[str]:
    """Shell completion of a recipe: the YAML files, and the folders to go into, that start with
    what is typed (hidden ones left out)."""
    head = incomplete[: incomplete.rfind("/") + 1]  # the folder part, as typed
    try:
        entries = sorted(Path(head or ".").iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        text = head + entry.name
        if entry.name.startswith(".") or not text.startswith(incomplete):
            continue
        if entry.is_dir():
            found.append(text + "/")
        elif entry.suffix in RECIPE_SUFFIXES:
            found.append(text)
    return found


def complete_setting(incomplete: str) -> list[str]:
    """Shell completion of `--set` for the fields that name a component: `model.backbone=NAME`
    for each registered name. Bash splits words at `=`, so it completes only up to there."""
    from zoo.compose.recipe import COMPONENT_FIELDS

    field, equals, name = incomplete.partition("=")
    kinds = {".".join(path): kind for path, kind in COMPONENT_FIELDS.items()}
    fields = [key for key in kinds if (key == field if equals else key.startswith(field))]
    return [f"{key}={found}" for key in fields for found in component_names(kinds[key], name)]


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a recipe field: --set train.batch_size=32 (repeatable).",
        autocompletion=complete_setting,
    ),
]


def validate(
    recipes: Annotated[list[Path], typer.Argument(help="Recipe files to check.", autocompletion=complete_recipe)],
    overrides: SetOption = None,
) -> None:
    """Check recipes without running them; report every problem with its line."""
    from zoo.compose.recipe import load_recipe

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
    recipes: Annotated[
        list[Path] | None,
        typer.Argument(help="Recipe files to run, one after another.", autocompletion=complete_recipe),
    ] = None,
    overrides: SetOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved recipe and stop.")] = False,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where run folders are made.")] = Path("runs"),
    device: Annotated[
        str | None,
        typer.Option("--device", help="auto, cpu or cuda (same as --set train.device=...)."),
    ] = None,
    track: Annotated[
        str | None,
        typer.Option("--track", help="Follow the run with a tracker ('zoo list trackers'; same as --set track=...)."),
    ] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="The results: table (the default), markdown, or json (a list, one entry per run).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train and evaluate the model each recipe describes; each run gets its own folder."""
    from zoo.compose.recipe import load_recipe, read_recipe_text

    shown = output or OutputFormat.table
    if shown is OutputFormat.csv or (dry_run and output is not None):
        raise UsageError(
            "--format: zoo run prints its results as table, markdown or json"
            + (", and --dry-run prints the recipe as YAML" if dry_run else ""),
            hint="'zoo leaderboard --format csv' gives the runs as csv",
        )
    plugins = loaded_plugins()
    registry = plugins.registry
    if not dry_run and resume is None:
        writable_folder(runs_dir, "--runs-dir")
    if (resume is None) == (not recipes):
        raise UsageError("give recipe files, or --resume RUN_DIR (not both)", hint="see 'zoo run --help'")
    if resume is not None:
        if overrides or dry_run or track:
            raise UsageError(
                "--resume continues a run as it was started; --set, --track and --dry-run do not apply",
                hint="start a new run to change the recipe",
            )
        finished = [run_recipe(None, registry, plugins, runs_dir, shown, resume=resume, device=device)]
    else:
        assert recipes is not None  # checked above: recipe files, or --resume
        extra = [
            *(overrides or []),
            *([f"train.device={device}"] if device else []),
            *([f"track={track}"] if track else []),
        ]
        resolved = [load_recipe(path, registry, extra) for path in recipes]  # all validated before any work
        if dry_run:
            for path, recipe in zip(recipes, resolved, strict=True):
                sys.stdout.write(f"# {path} (resolved)\n{recipe.to_yaml()}")
            return
        finished = [
            run_recipe(recipe, registry, plugins, runs_dir, shown, text=read_recipe_text(path))
            for path, recipe in zip(recipes, resolved, strict=True)
        ]
    if shown is OutputFormat.json:
        print_json([{"run_dir": str(folder), **results} for folder, results in finished if results is not None])


def run_recipe(
    recipe: Recipe | None,
    registry: Registry,
    plugins: Plugins,
    runs_dir: Path,
    shown: OutputFormat,
    text: str | None = None,
    resume: Path | None = None,
    device: str | None = None,
) -> tuple[Path, Results | None]:
    """Train one recipe (or resume one run), then judge it; print its results, except as JSON,
    and return them. The call path of `zoo run` (docs/architecture.md)."""
    from zoo.compose.recipe import components_of, load_run_recipe
    from zoo.runs import RunFolder

    if resume is not None:
        recipe = load_run_recipe(RunFolder(resume), registry)
    if recipe is None:
        raise ValueError("run_recipe needs a recipe, or a run folder to resume")
    for kind, ref in components_of(recipe):  # fail fast on what the environment lacks, before the heavy imports
        registry.get(kind, ref.name).check_ready(ref.params)
    from zoo.cli.results import metric_labels, print_results
    from zoo.compose.lifecycle import Lifecycle
    from zoo.judging.results import judge
    from zoo.training.device import leave_process_group
    from zoo.training.launch import train_recipe

    records = [r.as_dict() for r in plugins.records]
    device_name = device or recipe.train.device
    with Lifecycle.for_recipe(plugins, recipe) as lifecycle:
        trained = train_recipe(
            recipe, registry, device_name, records, runs_dir, recipe_text=text, resume=resume, lifecycle=lifecycle
        )
        try:
            results = None if trained is None else judge(recipe, trained, registry)
        except OSError as error:
            if trained is not None and disk_full(error):
                raise resume_after_disk_full(trained.folder.path) from None
            raise
        finally:
            leave_process_group()
        if trained is None or results is None:  # a process of a multi-GPU run other than the first
            return Path(), None
        lifecycle.finished(results)
    if shown is not OutputFormat.json:
        print_results(shown, trained.folder.path, results, metric_labels(registry))
    return trained.folder.path, results
