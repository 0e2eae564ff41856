"""Progress on stderr: a bar for each slow step, and the epoch display while training.

Bars are drawn only when stderr is a terminal (rich decides; `TTY_COMPATIBLE=1` or `FORCE_COLOR=1`
force one) and never touch stdout, so `--json` and `--format json` output stays clean. A step
nested in another (decoding inside a data check) is one more line of the same display; processes
of a multi-GPU run other than the first draw none. Progress is off with `zoo --quiet`
(`set_quiet`) or with `ZOO_QUIET=1` in the environment, which child processes inherit; quiet
also drops the line per epoch that training prints. Only rich is imported, and only when a display
is drawn, so the CLI stays light.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # rich's progress display is imported when a bar is first drawn: `zoo --help` does without
    from rich.console import Console
    from rich.progress import Progress, TaskID

T = TypeVar("T")
_quiet = False
_display: Progress | None = None  # the display the running steps share


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) progress for this process; `zoo --quiet` calls it."""
    global _quiet
    _quiet = quiet


@contextmanager
def quietly(quiet: bool = True) -> Iterator[None]:
    """Silence progress (when `quiet`) while the block runs, then restore what was set."""
    global _quiet
    before, _quiet = _quiet, _quiet or quiet
    try:
        yield
    finally:
        _quiet = before


def is_quiet() -> bool:
    """True when progress is silenced, by `set_quiet(True)` or by ZOO_QUIET."""
    return _quiet or os.environ.get("ZOO_QUIET", "") not in ("", "0")


def _console() -> Console | None:
    """The stderr console to draw on, or None when progress is not to be shown (quiet, or a
    process of a multi-GPU run other than the first: they share one terminal)."""
    if is_quiet() or os.environ.get("RANK", "0") != "0":
        return None
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    return console if console.is_terminal else None


class Step:
    """The handle of one step's bar; a step with no bar (quiet, not a terminal) ignores its calls."""

    def __init__(self, display: Progress | None = None, task: TaskID | None = None) -> None:
        self._display = display
        self._task = task

    def advance(self, steps: float = 1) -> None:
        """Count `steps` units of work as done."""
        if self._display is not None and self._task is not None:
            self._display.advance(self._task, steps)

    def describe(self, description: str) -> None:
        """Say what the step is doing now."""
        if self._display is not None and self._task is not None:
            self._display.update(self._task, description=description)


@contextmanager
def task(description: str, total: float | None = None) -> Iterator[Step]:
    """A bar for a step of `total` units (a spinner when the total is unknown) while the block runs."""
    global _display
    if _display is not None:  # nested in a running step: one more line of its display
        display = _display
        handle = display.add_task(description, total=total)
        try:
            yield Step(display, handle)
        finally:
            display.remove_task(handle)
        return
    console = _console()
    if console is None:
        yield Step()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,  # stdout is the command's output: never through the display
    )
    _display = display
    try:
        with display:
            yield Step(display, display.add_task(description, total=total))
    finally:
        _display = None


def track(items: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
    """Yield `items` while a bar counts them (`total` defaults to their length when they have one)."""
    if total is None and isinstance(items, Sized):
        total = len(items)
    with task(description, total) as step:
        for item in items:
            yield item
            step.advance()


class EpochProgress:
    """Shows one epoch's batches; `done` prints the epoch's summary line."""

    def __init__(self, enabled: bool = True) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.enabled = enabled and not is_quiet()
        self.live = self.enabled and self.console.is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def start(self, title: str, batches: int) -> None:
        """Begin an epoch of `batches` steps."""
        if not self.live:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[speed]:.0f} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            redirect_stdout=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(title, total=batches, loss=0.0, speed=0.0)

    def step(self, loss: float, speed: float) -> None:
        """One batch done."""
        if self.progress is not None and self.task is not None:  # both set by `start`
            self.progress.update(self.task, advance=1, loss=loss, speed=speed)

    def close(self) -> None:
        """Stop the bar, if one is shown (also when an epoch ends early)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def done(self, line: str) -> None:
        """End the epoch with its summary line."""
        self.close()
        if self.enabled:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
