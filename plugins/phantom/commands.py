"""`zoo data phantom`: write a phantom where the user asks, in the thesis's SCQM format."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from zoo.errors import UsageError


def phantom_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (must be new or empty).")],
    patients: Annotated[int, typer.Option("--patients", help="Number of patients.")] = 200,
    visits: Annotated[int, typer.Option("--visits", help="Most visits per patient.")] = 3,
    size: Annotated[int, typer.Option("--size", help="Crop size in pixels.")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processes (default: all cores).")] = None,
) -> None:
    """Write a synthetic dataset of joint crops with known erosion, in the thesis's SCQM format."""
    from pydantic import ValidationError

    from .generator import describe, write_phantom
    from .params import PhantomParams

    try:
        PhantomParams(patients=patients, visits=visits, size=size, seed=seed)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"--{first['loc'][0]}: {first['msg']}", hint="see 'zoo data phantom --help'") from None
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"'{out}' exists and is not an empty folder", hint="choose a new --out folder")
    start = time.perf_counter()
    info = write_phantom(out, patients, visits, size, seed, workers)
    sys.stdout.write(describe(info) + f"\nwritten to {out} in {time.perf_counter() - start:.1f} s\n")
