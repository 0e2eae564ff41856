"""One way to print results: tables, markdown, csv and JSON, for the zoo's commands and plugins'.

Every command that prints a result takes `--format table|csv|json|markdown` (`--json` is short
for `--format json`) and prints through `print_rows` or `print_json`. Tables fit the width
(`output_width`): the columns that matter least are dropped first, cells never wrap, and short
headers and cells are spelled out in a legend under the table. Part of the shared vocabulary:
commands that plugins add use it too (docs/hooks.md).
"""

from __future__ import annotations

import csv
import difflib
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from zoo.errors import UsageError

if TYPE_CHECKING:  # pandas is imported by the commands that print tables of it
    import pandas as pd

PIPE_WIDTH = 160  # pipes and files get wide tables, unless COLUMNS says otherwise
stdout = Console(highlight=False, soft_wrap=False)


class OutputFormat(StrEnum):
    """How a command prints its result."""

    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option("--format", help="table (the default), csv, json or markdown.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Comma-separated columns of table and markdown output (default: all that fit the width).",
        show_default=False,
    ),
]


def output_format(chosen: OutputFormat | None, as_json: bool = False) -> OutputFormat:
    """The format that `--format` and its alias `--json` ask for (table when neither is given)."""
    if as_json and chosen not in (None, OutputFormat.json):
        raise UsageError(f"--json and --format {chosen} disagree", hint="--json is the same as --format json")
    return OutputFormat.json if as_json else chosen or OutputFormat.table


def output_width() -> int:
    """The width tables fit: COLUMNS when set, else the terminal's, else PIPE_WIDTH."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns or PIPE_WIDTH
    except (AttributeError, ValueError, OSError):  # not a terminal
        return PIPE_WIDTH


class Short(NamedTuple):
    """A cell that tables show as `label`, spelled out in the legend; csv gives its `name`."""

    label: str
    name: str


Cell = str | int | float | Short | None


@dataclass(frozen=True)
class Column:
    """One column of a result.

    `key` names it in `--columns` and csv; `header` (default: the key) heads it in tables, and
    `meaning` spells the header out in the legend. When a table is too wide, the columns with the
    lowest `priority` are dropped first; None keeps a column always. `cut` lets long cells end in
    an ellipsis, down to that many characters (`tail`: start with one, for paths); None shows
    every cell whole (ids, names, numbers).
    """

    key: str
    header: str = ""
    meaning: str = ""
    priority: int | None = None
    cut: int | None = None
    tail: bool = False
    numeric: bool = False

    @property
    def title(self) -> str:
        """The column's header in tables."""
        return self.header or self.key


def abbreviate(name: str, labels: Mapping[str, str]) -> Short:
    """A name as a cell that shows its label (the name itself when it has none)."""
    return Short(labels.get(name, name), name)


def pick_columns(option: str | None, choices: Sequence[str]) -> list[str] | None:
    """The columns `--columns` names, in its order, checked against `choices` (None: not given)."""
    if option is None:
        return None
    picked = [part.strip() for part in option.split(",") if part.strip()]
    hint = f"columns: {', '.join(choices)}"
    if not picked:
        raise UsageError("--columns names no column", hint=hint)
    for name in picked:
        if name not in choices:
            close = difflib.get_close_matches(name, choices, n=1)
            raise UsageError(
                f"--columns: no column '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""), hint=hint
            )
    return picked


def print_json(data: object) -> None:
    """Print data as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_rows(
    output: OutputFormat,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell]],
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
    chosen: Sequence[str] | None = None,
) -> None:
    """Print rows as a table that fits the width, as markdown, or as csv (JSON is each command's own).

    Tables and markdown show the `chosen` columns (None: all, less those a table has no room for),
    then a legend of the short headers and cells shown, then the `notes`; csv gives every column.
    """
    if output is OutputFormat.json:
        raise ValueError("print_rows prints tables, markdown and csv; JSON goes through print_json")
    table = [list(row) for row in rows]
    if output is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([column.key for column in columns])
        writer.writerows([_csv_cell(cell) for cell in row] for row in table)
        return
    keep = list(range(len(columns)))
    if chosen is not None:
        order = {key: place for place, key in enumerate(chosen)}
        keep = sorted((i for i in keep if columns[i].key in order), key=lambda i: order[columns[i].key])
    shown = [columns[i] for i in keep]
    cells = [[row[i] for i in keep] for row in table]
    if output is OutputFormat.markdown:
        _print_markdown(title, shown, cells, notes)
        return
    texts = [[_label(cell) for cell in row] for row in cells]
    room = output_width()
    fitted = _fit(shown, texts, room, drop=chosen is None)
    grid = Table(box=box.HEAVY_HEAD, padding=(0, 1))
    for place, width in fitted:
        column = shown[place]
        justify: JustifyMethod = "right" if column.numeric else "left"
        grid.add_column(Text(column.title), justify=justify, no_wrap=True, overflow="ellipsis", width=width)
    for row in texts:
        grid.add_row(*(Text(_tail(row[place], width) if shown[place].tail else row[place]) for place, width in fitted))
    if title:
        sys.stdout.write(f"{title}\n")
    stdout.width = room
    stdout.print(grid)
    legend = _legend([shown[place] for place, _ in fitted], [[row[place] for place, _ in fitted] for row in cells])
    sys.stdout.write("".join(f"{line}\n" for line in (*_pack(legend, room), *notes)))


def _pack(entries: Sequence[str], width: int) -> list[str]:
    """Legend entries joined by commas into lines of at most `width` characters (an entry is never split)."""
    lines: list[str] = []
    for entry in entries:
        if lines and cell_len(f"{lines[-1]}, {entry},") <= width:
            lines[-1] = f"{lines[-1]}, {entry}"
        else:
            lines[-1:] = [f"{lines[-1]},", entry] if lines else [entry]
    return lines


def _tail(text: str, width: int) -> str:
    """The end of `text` behind an ellipsis, in at most `width` cells (all of it when it fits)."""
    if cell_len(text) <= width:
        return text
    while text and cell_len(text) > width - 1:
        text = text[1:]
    return "…" + text


def _label(cell: Cell) -> str:
    """A cell as tables show it."""
    if isinstance(cell, Short):
        return cell.label
    return "" if cell is None else str(cell)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may read as the start of a formula


def spreadsheet_safe(text: str) -> str:
    """A text cell of CSV written for people, neutralised against formula injection (OWASP): one
    starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a spreadsheet
    shows it as text instead of running it. A number (`-0.5`) is left as it is."""
    if not text.startswith(FORMULA_STARTS):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


def spreadsheet_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A table whose text cells are `spreadsheet_safe` (numbers untouched), for CSV written for people."""
    safe = frame.copy()
    for name in safe.select_dtypes(include="object").columns:  # text columns; numbers are never text here
        safe[name] = safe[name].map(lambda v: spreadsheet_safe(v) if isinstance(v, str) else v)
    return safe


def _csv_cell(cell: Cell) -> str:
    """A cell as csv gives it to people: text made `spreadsheet_safe`."""
    return spreadsheet_safe(_full(cell)) if isinstance(cell, str | Short) else _full(cell)


def _full(cell: Cell) -> str:
    """A cell as csv gives it."""
    if isinstance(cell, Short):
        return cell.name
    return "" if cell is None else str(cell)


def _legend(columns: Sequence[Column], cells: Sequence[Sequence[Cell]]) -> list[str]:
    """`label = meaning` for each short header and cell shown, once."""
    entries = [f"{column.title} = {column.meaning}" for column in columns if column.meaning]
    entries += [
        f"{cell.label} = {cell.name}"
        for row in cells
        for cell in row
        if isinstance(cell, Short) and cell.label.lower() != cell.name.lower()
    ]
    return list(dict.fromkeys(entries))


def _frame(count: int) -> int:
    """The characters a table of `count` columns spends on rules and padding (one space each side)."""
    return 3 * count + 1


def _fit(columns: Sequence[Column], texts: Sequence[Sequence[str]], width: int, drop: bool) -> list[tuple[int, int]]:
    """The columns a table of `width` characters shows, with their widths.

    Columns drop out lowest `priority` first (when `drop`) until the rest fit, the cut columns at
    their `cut` width; the room left is then shared among the cut columns.
    """
    natural = [max([cell_len(c.title), *(cell_len(row[i]) for row in texts)]) for i, c in enumerate(columns)]
    least = [
        n if c.cut is None else min(n, max(c.cut, cell_len(c.title))) for n, c in zip(natural, columns, strict=True)
    ]
    keep = list(range(len(columns)))
    droppable = sorted(
        (i for i, c in enumerate(columns) if c.priority is not None), key=lambda i: (columns[i].priority, -i)
    )
    for place in droppable if drop else ():
        if sum(least[i] for i in keep) + _frame(len(keep)) <= width:
            break
        keep.remove(place)
    elastic = [i for i in keep if columns[i].cut is not None]
    room = width - _frame(len(keep)) - sum(natural[i] for i in keep if i not in elastic)
    shares = _share(room, [natural[i] for i in elastic], [least[i] for i in elastic])
    sized = dict(zip(elastic, shares, strict=True))
    return [(i, sized.get(i, natural[i])) for i in keep]


def _share(room: int, wants: Sequence[int], floors: Sequence[int]) -> list[int]:
    """Split `room` among columns wanting `wants`: the narrowest get theirs, the rest split evenly,
    none below its floor."""
    shares = [0] * len(wants)
    for done, i in enumerate(sorted(range(len(wants)), key=wants.__getitem__)):
        shares[i] = max(floors[i], min(wants[i], room // (len(wants) - done)))
        room -= shares[i]
    return shares


def _print_markdown(
    title: str | None, columns: Sequence[Column], cells: Sequence[Sequence[Cell]], notes: Sequence[str]
) -> None:
    """A markdown table with a bold title, then the legend and notes as paragraphs."""

    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"**{escape(title)}**", ""] if title else []
    lines.append("| " + " | ".join(escape(column.title) for column in columns) + " |")
    lines.append("|" + "".join("---:|" if column.numeric else "---|" for column in columns))
    lines += ["| " + " | ".join(escape(_label(cell)) for cell in row) + " |" for row in cells]
    legend = _legend(columns, cells)
    for line in ([", ".join(legend)] if legend else []) + list(notes):
        lines += ["", escape(line)]
    sys.stdout.write("\n".join(lines) + "\n\n")


def warn(message: str) -> None:
    """Print one warning line on stderr."""
    sys.stderr.write(f"Warning: {message}\n")


def note(message: str) -> None:
    """Print one line of information on stderr (beside the progress, out of the results)."""
    sys.stderr.write(f"{message}\n")


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
