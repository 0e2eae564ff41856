"""Errors the zoo reports to its users: one line, a hint, and an exit code.

The CLI turns every `ZooError` into `Error: <message>` plus `Hint: <hint>` on stderr and exits
with `exit_code`. Messages never include local variables or sample data, only names a user gave.
"""

from __future__ import annotations

import errno


class ZooError(Exception):
    """A failure while working (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def details(self) -> list[str]:
        """Lines printed before the `Error:` line (e.g. one per problem found)."""
        return []


def disk_full(error: BaseException) -> bool:
    """Whether an error is the disk (or the user's quota) running out of space."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def resume_after_disk_full(folder: object) -> ZooError:
    """The error of a run whose files could not be written for lack of space: it can go on."""
    return ZooError(
        f"the disk is full: the run's files in {folder} could not be written",
        hint=f"free some space, then 'zoo run --resume {folder}' goes on from the last checkpoint",
    )


class UsageError(ZooError):
    """Bad input from the user: a recipe, an option, a file (exit code 2)."""

    exit_code = 2


class Problem:
    """One thing wrong with a user's input, located as `FILE:LINE: field.path: message`."""

    def __init__(self, location: str, path: str, message: str) -> None:
        self.location = location
        self.path = path
        self.message = message

    def __str__(self) -> str:
        if self.path:
            return f"{self.location}: {self.path}: {self.message}"
        return f"{self.location}: {self.message}"

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"


class ProblemsError(UsageError):
    """Several problems found at once; the CLI prints each on its own line."""

    def __init__(self, problems: list[Problem], message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.problems = problems

    def details(self) -> list[str]:
        """One located line per problem."""
        return [str(problem) for problem in self.problems]
