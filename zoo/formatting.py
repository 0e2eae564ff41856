"""How numbers and intervals read in tables, reports and the leaderboard, and which ids are
blank (import-light)."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence


def format_number(value: float | None) -> str:
    """Four significant digits; empty for a missing value."""
    return "" if value is None else f"{value:.4g}"


def format_interval(bounds: Sequence[float | None] | None) -> str:
    """`low - high` with four significant digits; empty when either end is missing."""
    if not bounds or None in bounds:
        return ""
    return f"{bounds[0]:.4g} - {bounds[1]:.4g}"


def blank(value: object) -> bool:
    """Whether an id is missing: empty, NaN, or made only of characters nobody sees (spaces,
    zero-width spaces and other format or control characters), which no one could tell apart."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return all(unicodedata.category(character)[0] in "CZ" for character in str(value))
