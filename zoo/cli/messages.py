"""How the command line reports errors: located problem lines, `Error: ...` and `Hint: ...`."""

from __future__ import annotations

import os
import sys
import traceback

from zoo.errors import ZooError


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
