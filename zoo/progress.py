"""Training progress: a rich bar per epoch on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class EpochProgress:
    """Shows one epoch's batches; `done` prints the epoch's summary line."""

    def __init__(self, enabled: bool = True) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.live = enabled and self.console.is_terminal
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task: Any = None

    def start(self, title: str, batches: int) -> None:
        """Begin an epoch of `batches` steps."""
        if not self.live:
            return
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[speed]:.0f} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(title, total=batches, loss=0.0, speed=0.0)

    def step(self, loss: float, speed: float) -> None:
        """One batch done."""
        if self.progress is not None:
            self.progress.update(self.task, advance=1, loss=loss, speed=speed)

    def done(self, line: str) -> None:
        """End the epoch with its summary line."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.enabled:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
