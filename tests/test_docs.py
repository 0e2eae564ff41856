"""The docs keep up with the code: every hook is documented with its arguments, every kind has a hook."""

from __future__ import annotations

import inspect
import re

from conftest import ROOT

from zoo.compose import hookspecs
from zoo.compose.kinds import KINDS

HOOKS_DOC = (ROOT / "docs" / "hooks.md").read_text()
HOOKS = {
    name: list(inspect.signature(getattr(hookspecs, name)).parameters)
    for name in dir(hookspecs)
    if name.startswith("zoo_")
}


def documented_hooks(text: str) -> dict[str, list[str] | None]:
    """Each `## \\`zoo_...\\`` section: the argument names of the signature it shows (None: it shows none)."""
    found: dict[str, list[str] | None] = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE):
        heading = re.match(r"`(zoo_\w+)`", section)
        if heading is None:
            continue
        name = heading.group(1)
        signature = re.search(rf"```python\n{name}\(([^)]*)\)\n```", section)
        found[name] = [a.strip() for a in signature.group(1).split(",") if a.strip()] if signature else None
    return found


def drift(text: str) -> list[str]:
    """How docs/hooks.md (as `text`) and the hookspecs disagree, one line each."""
    documented = documented_hooks(text)
    problems = [f"{name}: not documented" for name in sorted(set(HOOKS) - set(documented))]
    problems += [f"{name}: documented but no hook" for name in sorted(set(documented) - set(HOOKS))]
    problems += [
        f"{name}: documented as {documented[name]}, is {arguments}"
        for name, arguments in sorted(HOOKS.items())
        if name in documented and documented[name] != arguments
    ]
    return problems


def test_every_hook_has_a_section_with_its_arguments() -> None:
    assert len(HOOKS) >= 13, "hookspecs defines the registration, lifecycle and report hooks"
    assert drift(HOOKS_DOC) == []


def test_a_changed_signature_or_a_missing_section_is_caught() -> None:
    renamed = HOOKS_DOC.replace("zoo_epoch_ended(run, epoch, metrics)", "zoo_epoch_ended(run, metrics)")
    assert drift(renamed) == ["zoo_epoch_ended: documented as ['run', 'metrics'], is ['run', 'epoch', 'metrics']"]
    without = HOOKS_DOC.replace("## `zoo_run_finished`", "## Finishing")
    assert drift(without) == ["zoo_run_finished: not documented"]


def test_every_kind_has_a_hook() -> None:
    for kind in KINDS:
        assert hasattr(hookspecs, f"zoo_register_{kind}")
