"""How numbers and intervals read in tables, reports and the leaderboard (import-light)."""

from __future__ import annotations

from collections.abc import Sequence


def format_number(value: float | None) -> str:
    """Four significant digits; empty for a missing value."""
    return "" if value is None else f"{value:.4g}"


def format_interval(bounds: Sequence[float | None] | None) -> str:
    """`low - high` with four significant digits; empty when either end is missing."""
    if not bounds or None in bounds:
        return ""
    return f"{bounds[0]:.4g} - {bounds[1]:.4g}"
