"""The distribution lists every package of the tree, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for top, name in (("zoo", "zoo"), ("plugins", "zoo_plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *relative.parts]))
    assert listed == found


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^make \w+$", readme, flags=re.MULTILINE)
    assert "make test" in commands and "make demo" in commands
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == "exec make test"
