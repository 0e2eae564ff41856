"""`zoo weights list|import|fetch`: the store of pretrained weights that `pretrained: true` loads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from zoo.output import Column, FormatOption, OutputFormat, output_format, print_json, print_rows

weights_app = typer.Typer(
    help="Pretrained weights for timm backbones: list, import a file, fetch from the hub.",
    no_args_is_help=True,
)


LIST_COLUMNS = (
    Column("model"),
    Column("status"),
    Column("source", priority=20, cut=16),
    Column("licence", priority=30),
    Column("sha256", priority=10),
    Column("size", priority=15, numeric=True),
    Column("date", priority=5),
)


def _size(count: int | None) -> str:
    return "" if count is None else f"{count / 1e6:.1f} MB"


@weights_app.command("list")
def list_weights(output: FormatOption = None) -> None:
    """What the store holds, and which installed weight packages it can convert on first use."""
    from . import weights

    shown = output_format(output)
    rows = weights.listing()
    store = weights.store_dir().resolve()
    if shown is OutputFormat.json:
        print_json({"store": str(store), "models": rows})
        return
    print_rows(
        shown,
        LIST_COLUMNS,
        [
            (
                row["model"],
                row["status"],
                row["source"],
                row["licence"],
                row.get("sha256", "")[:12],
                _size(row.get("bytes")),
                row.get("date", ""),
            )
            for row in rows
        ],
        notes=[
            f"store: {store} (set {weights.WEIGHTS_ENV} to move it); 'installed' weights are converted into the "
            "store the first time a recipe uses them"
        ],
    )


@weights_app.command("import")
def import_weights(
    file: Annotated[Path, typer.Argument(help="A .safetensors file, or a .pth/.bin plain state dict.")],
    model: Annotated[str, typer.Option("--model", help="The timm model the weights belong to.")],
    licence: Annotated[str, typer.Option("--licence", help="The weights' licence, for the index.")] = "unknown",
) -> None:
    """Check a weights file against a timm architecture and store it as safetensors."""
    from . import weights

    entry, how = weights.import_file(file, model, licence)
    sys.stdout.write(
        f"stored '{model}': {entry['tensors']} tensors matched {how}, sha256 {entry['sha256'][:12]}, "
        f"in {weights.store_dir().resolve() / entry['file']}\n"
    )


@weights_app.command("fetch")
def fetch_weights(
    model: Annotated[str, typer.Argument(help="A timm model name, e.g. inception_v3.")],
) -> None:
    """Download a timm model's pretrained weights from the hub into the store (needs internet)."""
    from . import weights

    entry = weights.fetch(model)
    sys.stdout.write(f"stored '{model}' from {entry['source']}, sha256 {entry['sha256'][:12]}\n")
