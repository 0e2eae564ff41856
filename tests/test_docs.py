"""The docs keep up with the code: every hook and every kind is documented."""

from __future__ import annotations

import re

from conftest import ROOT

from zoo.compose import hookspecs
from zoo.compose.kinds import KINDS

HOOKS_DOC = (ROOT / "docs" / "hooks.md").read_text()


def test_every_hook_has_a_section() -> None:
    headings = set(re.findall(r"^## `(\w+)`", HOOKS_DOC, flags=re.MULTILINE))
    hooks = {name for name in dir(hookspecs) if name.startswith("zoo_")}
    assert hooks, "hookspecs defines hooks"
    assert hooks - headings == set(), "undocumented hooks"
    assert headings - hooks == set(), "documented hooks that do not exist"


def test_every_kind_has_a_hook() -> None:
    for kind in KINDS:
        assert hasattr(hookspecs, f"zoo_register_{kind}")
