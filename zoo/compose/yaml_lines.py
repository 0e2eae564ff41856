"""Load YAML while keeping the line of every key, so errors can say `FILE:LINE`.

Duplicate keys are an error (plain YAML loaders keep the last one silently).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from zoo.errors import Problem, ProblemsError, UsageError

Path = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Parsed YAML data plus the 1-based line of each key path."""

    data: object  # what the YAML holds: mappings, lists, strings, numbers, dates, ...
    lines: dict[Path, int]
    source: str

    def location(self, path: Path) -> str:
        """`FILE:LINE` of the longest prefix of `path` that appears in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return f"{self.source}:{line}"
        return self.source


def dotted(path: Path) -> str:
    """Render a key path as `a.b.0.c`."""
    return ".".join(str(part) for part in path)


def undotted(text: str) -> Path:
    """Parse `a.b.0.c` back into a key path (digits become list indices)."""
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


MAX_NODES = 10_000  # a recipe has a few hundred; nested aliases can expand to billions


class _Budget:
    """Counts the nodes walked, so that nested aliases cannot expand without limit."""

    def __init__(self, source: str) -> None:
        self.left = MAX_NODES
        self.source = source

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise UsageError(
                f"{self.source}: the YAML expands to more than {MAX_NODES:,} values (nested aliases?)",
                hint="write the recipe out without nested anchors and aliases (*name)",
            )


def _walk(
    node: yaml.Node, path: Path, lines: dict[Path, int], problems: list[Problem], source: str, budget: _Budget
) -> None:
    budget.spend()
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):  # `? [a, b]: ...`: never a recipe's key, and
                problems.append(  # spelling it out could expand nested aliases without end
                    Problem(f"{source}:{line}", dotted(path), "a key must be a name, not a list or a mapping")
                )
                continue
            key = key_node.value
            child = (*path, key)
            if key in first_seen:
                problems.append(
                    Problem(
                        f"{source}:{line}",
                        dotted(child),
                        f"duplicate key (first at line {first_seen[key]})",
                    )
                )
                continue
            first_seen[key] = line
            lines[child] = line
            _walk(value_node, child, lines, problems, source, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, problems, source, budget)


def load_yaml(text: str, source: str) -> YamlDocument:
    """Parse YAML text; malformed YAML and duplicate keys raise a located `UsageError`."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a NUL, ESC or other control character: not a text recipe
        raise UsageError(
            f"{source}: not a text file: it holds the control character #x{exc.character:04x} "
            f"(character {exc.position + 1})",
            hint="a recipe is plain YAML text; was a binary file given?",
        ) from None
    try:
        node = loader.get_single_node()
        lines: dict[Path, int] = {}
        problems: list[Problem] = []
        if node is not None:
            lines[()] = node.start_mark.line + 1
            _walk(node, (), lines, problems, source, _Budget(source))
        if problems:
            noun = "problem" if len(problems) == 1 else "problems"
            raise ProblemsError(
                problems, f"{source}: {len(problems)} {noun} with its keys", hint="keep one of each key, each a name"
            )
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        what = exc.problem or exc.context or "cannot parse"
        if exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
            what += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise UsageError(
            f"{where}: malformed YAML: {what}",
            hint="check indentation, colons and quotes near that line",
        ) from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: malformed YAML: {type(exc).__name__}", hint="check the file") from None
    except RecursionError:  # an alias that contains itself (a: &x [*x])
        raise UsageError(
            f"{source}: the YAML refers to itself through an alias",
            hint="write the recipe out without recursive anchors and aliases (*name)",
        ) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, lines=lines, source=source)
