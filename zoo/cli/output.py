"""One way to print results (a rich table or JSON) and errors (one line plus a hint)."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from zoo.errors import UsageError, ZooError
from zoo.formatting import format_interval, format_number

stdout = Console(highlight=False, soft_wrap=False)
if not stdout.is_terminal:
    stdout.width = 160  # pipes and files get wide tables instead of rich's 80 columns


def print_json(data: Any) -> None:
    """Print data as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a rich table on stdout; cells are shown as plain text, never as markup."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout.print(table, markup=False)


def warn(message: str) -> None:
    """Print one warning line on stderr."""
    sys.stderr.write(f"Warning: {message}\n")


def debug_enabled() -> bool:
    """True when ZOO_DEBUG asks for tracebacks."""
    return os.environ.get("ZOO_DEBUG", "") not in ("", "0")


def report_error(error: ZooError) -> None:
    """Print an error as located problem lines (if any), `Error: ...` and `Hint: ...`.

    With ZOO_DEBUG=1 the traceback comes first (never with local variables).
    """
    if debug_enabled():
        traceback.print_exception(error)
    for line in error.details():
        sys.stderr.write(f"{line}\n")
    sys.stderr.write(f"Error: {error.message}\n")
    if error.hint:
        sys.stderr.write(f"Hint: {error.hint}\n")


def print_results(folder: Any, results: dict[str, Any]) -> None:
    """The metrics of a finished run, with intervals and the trivial baseline, per split."""
    ceilings = results.get("ceilings", {})
    for split, result in results["splits"].items():
        baseline = results["baselines"].get(split, {})
        ceiling = ceilings.get(split, {}).get("metrics")
        rows = [
            (
                name,
                format_number(entry["value"]),
                format_interval(entry.get("bootstrap_95")),
                format_number(baseline.get("metrics", {}).get(name)),
                *([format_number(ceiling.get(name))] if ceiling is not None else []),
            )
            for name, entry in result["metrics"].items()
        ]
        title = f"{results['recipe']}: {split} ({result['n']} crops, {result['patients']} patients)"
        print_table(
            title,
            [
                "metric",
                "value",
                "95 % CI (patients)",
                baseline.get("predictor", "baseline"),
                *(["reader ceiling"] if ceiling is not None else []),
            ],
            rows,
        )
    if ceilings:
        stdout.print(
            "reader ceiling: the score of a model that knew each joint's true erosion, against the "
            "same noisy reader labels (the data's own truth column); no model can expect to beat it",
            markup=False,
        )
    stdout.print(f"run folder: {folder}", markup=False)


def writable_file(path: Path, option: str = "--out") -> Path:
    """Check, before any work, that a result file can be written at `path` (parents are made)."""
    where = path.expanduser().resolve()
    if where.is_dir():
        raise UsageError(f"{option} '{where}' is a folder", hint=f"give {option} a file name")
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{option}: cannot make folder '{where.parent}' ({exc.strerror})", hint="choose another path"
        ) from None
    if not os.access(where.parent, os.W_OK) or (where.exists() and not os.access(where, os.W_OK)):
        raise UsageError(f"{option} '{where}' is not writable", hint="choose another path")
    return path


def writable_folder(path: Path, option: str) -> Path:
    """Check, before any work, that `path` is (or can become) a writable folder."""
    where = path.expanduser().resolve()
    if where.exists() and not where.is_dir():
        raise UsageError(f"{option} '{where}' is a file, not a folder", hint=f"give {option} a folder")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{option}: cannot make folder '{where}' ({exc.strerror})", hint="choose another path"
        ) from None
    if not os.access(where, os.W_OK):
        raise UsageError(f"{option} '{where}' is not writable", hint="choose another folder")
    return path
