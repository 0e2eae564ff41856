"""`zoo models`: the trained models a user scores with by name (zoo.compose.bundles)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from zoo.cli.components import loaded_plugins
from zoo.errors import UsageError
from zoo.output import Column, OutputFormat, print_rows, writable_folder

models_app = typer.Typer(
    help="Trained models that ship with the zoo or were installed: list, show, install, export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

LIST_COLUMNS = (
    Column("name"),
    Column("target", priority=60),
    Column("headline", "metric", "the model's ranking metric on its evaluation split, with its 95 % interval"),
    Column("weights", priority=40),
    Column("source", priority=50),
    Column("description", cut=60, priority=30),
)


def _interval(values: list[float | None] | None) -> str:
    if not values or any(v is None for v in values):
        return ""
    return f" ({values[0]:.4g} - {values[1]:.4g})"


@models_app.command("list")
def list_models(
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table, csv, json or markdown.")
    ] = OutputFormat.table,
) -> None:
    """List the trained models: those plugins ship and those installed."""
    from zoo.compose.bundles import available, read_bundle

    rows = []
    for name, (folder, source) in sorted(available(loaded_plugins().registry).items()):
        info = read_bundle(folder, check_weights=False)
        head = info.headline
        measured = "" if head.value is None else f"{head.value:.4g}{_interval(head.bootstrap_95)}"
        value = f"{head.metric} {measured} ({head.split})" if measured else ""
        size = (folder / "model.safetensors").stat().st_size / 1e6
        rows.append(
            {
                "name": name,
                "target": info.target,
                "headline": value,
                "weights": f"{size:.1f} MB {info.weights_dtype}",
                "source": source,
                "description": info.description,
            }
        )
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    print_rows(output, LIST_COLUMNS, [tuple(row.values()) for row in rows], title="trained models")


@models_app.command("show")
def show(name: Annotated[str, typer.Argument(help="A trained model's name, or a bundle folder.")]) -> None:
    """Show a trained model's card, provenance and metrics."""
    from zoo.compose.bundles import CARD_FILE, find, read_bundle

    folder = find(name, loaded_plugins().registry)  # a bundle's weights are checked here
    info = read_bundle(folder, check_weights=False)
    facts = [
        ("name", info.name),
        ("folder", str(folder)),
        ("target", info.target),
        ("recipe", info.recipe),
        ("trained as run", info.run),
        ("weights", f"{info.weights_dtype}, sha256 {info.weights_sha256}"),
        ("data fingerprint", info.data_fingerprint),
        ("zoo version", info.zoo_version),
        ("licence", info.licence),
    ]
    if info.caveat:
        facts.append(("caveat", info.caveat))
    for key, value in facts:
        sys.stdout.write(f"{key}: {value}\n")
    sys.stdout.write("\n" + (folder / CARD_FILE).read_text(encoding="utf-8"))


def _check_name(name: str) -> None:
    """A model name given with --name, or one `UsageError`."""
    from zoo.compose.bundles import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        raise UsageError(f"--name '{name}' is not a model name", hint="lower-case letters, digits, '_', '.', '-'")


@models_app.command("install")
def install(
    source: Annotated[Path, typer.Argument(help="A bundle folder (written by 'zoo models export').")],
    name: Annotated[str | None, typer.Option("--name", help="Install under this name (default: the bundle's).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an installed bundle of that name.")] = False,
) -> None:
    """Check a bundle and install it into the models store, to use it by name."""
    from zoo.compose.bundles import read_bundle
    from zoo.using.bundles import install as install_bundle

    if not source.is_dir():
        raise UsageError(f"'{source}' is not a folder", hint="give a bundle folder written by 'zoo models export'")
    if name is not None:
        _check_name(name)
    chosen = name or read_bundle(source, check_weights=False).name  # install_bundle checks the weights
    if chosen in {spec.name for spec in loaded_plugins().registry.components("models")}:
        raise UsageError(  # the plugin's model would hide the installed one
            f"'{chosen}' is the name of a model a plugin ships", hint="install it under another --name"
        )
    info, folder = install_bundle(source, name, replace)
    sys.stdout.write(f"installed '{info.name}' into {folder}\n")


@models_app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A finished run folder.")],
    out: Annotated[Path, typer.Option("--out", help="The new bundle folder.")],
    name: Annotated[str, typer.Option("--name", help="The model's name (lower-case letters, digits, _ . -).")],
    description: Annotated[str, typer.Option("--description", help="One line: what the model does.")],
    licence: Annotated[str, typer.Option("--licence", help="The weights' licence (and the data's terms).")],
    card: Annotated[
        Path | None, typer.Option("--card", help="The model card (Markdown); default: one written from the run.")
    ] = None,
    caveat: Annotated[
        str | None, typer.Option("--caveat", help="One line every score of the model carries in its output.")
    ] = None,
    half: Annotated[
        bool, typer.Option("--half", help="Store the weights in half precision and measure the metrics again.")
    ] = False,
    samples: Annotated[
        bool,
        typer.Option(
            "--with-samples",
            help="Add the split and the predictions (every sample's and patient's id and label), for 'zoo analyze'.",
        ),
    ] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda (to measure --half).")] = "auto",
) -> None:
    """Turn a finished run into a model bundle: weights, recipe, metrics, data fingerprint, card."""
    from zoo.training.device import pick_device
    from zoo.using.bundles import export_bundle

    _check_name(name)
    writable_folder(out, "--out")
    exported = export_bundle(
        run_dir,
        out,
        loaded_plugins().registry,
        name=name,
        description=description,
        licence=licence,
        caveat=caveat,
        card=card,
        half=half,
        samples=samples,
        device=pick_device(device),
    )
    head = exported.info.headline
    sys.stdout.write(f"wrote bundle '{name}' to {out} ({exported.info.weights_dtype} weights)\n")
    if head.value is not None:
        before = "" if exported.headline_before is None else f" (the run: {exported.headline_before:.4g})"
        sys.stdout.write(f"{head.split} {head.metric}: {head.value:.4g}{_interval(head.bootstrap_95)}{before}\n")
