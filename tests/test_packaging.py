"""The distribution lists every package of the tree, and CI runs the README's test command."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

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


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalised(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec).group()) for spec in requirements}


def test_the_licence_file_is_the_gpl3_the_metadata_declares() -> None:
    project = _pyproject()["project"]
    assert project["license"] == "GPL-3.0-or-later"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:7] == ["GNU", "GENERAL", "PUBLIC", "LICENSE", "Version", "3,", "29"]
    assert "TERMS AND CONDITIONS" in text and "END OF TERMS AND CONDITIONS" in text
    assert "either version 3 of the License, or\n    (at your option) any later version." in text


def test_the_build_backend_reads_spdx_licences() -> None:
    requires = _pyproject()["build-system"]["requires"]
    setuptools = next(spec for spec in requires if _normalised(spec).startswith("setuptools"))
    minimum = re.search(r">=\s*(\d+)", setuptools)
    assert minimum is not None and int(minimum.group(1)) >= 77, "an SPDX `license` string needs setuptools 77"


class _Imports(ast.NodeVisitor):
    """Top-level names of absolute imports, whether each is inside a function, and whether it is
    inside a `try` that handles ImportError. Imports under `if TYPE_CHECKING:` never run: left out."""

    def __init__(self) -> None:
        self.found: list[tuple[str, int, bool, bool]] = []
        self.depth = 0
        self.guarded = 0

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        names = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
        catches = bool(names & {"ImportError", "ModuleNotFoundError", "(ImportError, ModuleNotFoundError)"})
        self.guarded += catches
        for statement in node.body:
            self.visit(statement)
        self.guarded -= catches
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def _add(self, module: str, node: ast.AST) -> None:
        self.found.append((module.split(".")[0], node.lineno, self.depth > 0, self.guarded > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node)


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """Whatever zoo/ and plugins/ import is a dependency, or an optional extra imported only in a
    function and behind an ImportError guard (so that the zoo without the extra still works)."""
    project = _pyproject()["project"]
    required = _requirement_names(project["dependencies"])
    optional = {_normalised(req) for extra in project["optional-dependencies"].values() for req in extra}
    optional = _requirement_names(list(optional)) - {"erosion-zoo"}
    distributions = packages_distributions()
    own = {"zoo", "zoo_plugins", "plugins"}
    undeclared, unguarded = [], []
    extras: dict[str, list[bool]] = {}
    for top in ("zoo", "plugins"):
        for path in sorted((ROOT / top).rglob("*.py")):
            imports = _Imports()
            imports.visit(ast.parse(path.read_text(), str(path)))
            for module, line, in_function, guarded in imports.found:
                if module in sys.stdlib_module_names or module in own:
                    continue
                names = {_normalised(d) for d in distributions.get(module, [module])}
                where = f"{path.relative_to(ROOT)}:{line} imports {module}"
                if names & required:
                    continue
                if not names & optional:
                    undeclared.append(where)
                elif not in_function:
                    unguarded.append(where)
                else:
                    extras.setdefault(module, []).append(guarded)
    assert not undeclared, f"not in [project] dependencies: {undeclared}"
    assert not unguarded, f"an optional extra imported at module level: {unguarded}"
    assert all(any(guards) for guards in extras.values()), f"an optional extra without an ImportError guard: {extras}"
