"""`zoo list` and `zoo plugins`: what is installed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from zoo.compose.kinds import KINDS
from zoo.errors import UsageError
from zoo.output import (
    Column,
    ColumnsOption,
    FormatOption,
    JsonOption,
    OutputFormat,
    output_format,
    pick_columns,
    print_json,
    print_rows,
    warn,
)

if TYPE_CHECKING:  # imported lazily so that `zoo --help` stays fast
    from pydantic import BaseModel

    from zoo.compose.plugins import Plugins
    from zoo.compose.registry import ComponentSpec


def loaded_plugins() -> Plugins:
    """The plugins, with one warning line per plugin that failed to load."""
    from zoo.compose.plugins import get_plugins

    plugins = get_plugins()
    for record in plugins.failures():
        warn(f"plugin '{record.name}' did not load: {record.error} (see 'zoo plugins')")
    return plugins


def complete_kind(incomplete: str) -> list[str]:
    """Shell completion of a kind."""
    return [kind for kind in KINDS if kind.startswith(incomplete)]


def component_names(kind: str, prefix: str) -> list[str]:
    """The registered names of a kind that start with `prefix` (shell completion; no warnings)."""
    from zoo.compose.plugins import get_plugins

    return [spec.name for spec in get_plugins().registry.components(kind) if spec.name.startswith(prefix)]


def _params_summary(params: type[BaseModel]) -> str:
    parts = []
    for name, field in params.model_fields.items():
        if field.is_required():
            parts.append(f"{name} (required)")
        else:
            default = field.get_default(call_default_factory=True)
            parts.append(f"{name}={default!r}")
    return ", ".join(parts)


def _component_json(spec: ComponentSpec) -> dict[str, object]:
    return {
        "kind": spec.kind,
        "name": spec.name,
        "plugin": spec.plugin,
        "description": spec.description,
        "display": spec.display,
        "targets": sorted(spec.targets) if spec.targets is not None else None,
        "provides": sorted(spec.provides),
        "requires": sorted(spec.requires),
        "params": spec.params.model_json_schema(),
    }


def _component_cells(spec: ComponentSpec) -> dict[str, str]:
    """What `zoo list` can show of a component, by column."""
    return {
        "kind": spec.kind,
        "name": spec.name,
        "label": spec.display,
        "plugin": spec.plugin,
        "description": spec.description,
        "params": _params_summary(spec.params),
    }


def list_components(
    kind: Annotated[
        str | None, typer.Argument(help=f"One of: {', '.join(KINDS)}.", autocompletion=complete_kind)
    ] = None,
    output: FormatOption = None,
    as_json: JsonOption = False,
    columns: ColumnsOption = None,
) -> None:
    """List the registered components, with their plugin and params (JSON adds the params' schemas)."""
    shown = output_format(output, as_json)
    if kind is not None and kind not in KINDS:
        from zoo.compose.registry import suggest

        close = suggest(kind, KINDS)
        tip = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(f"unknown kind '{kind}'{tip}", hint=f"kinds: {', '.join(KINDS)}")
    specs = loaded_plugins().registry.components(kind)
    labelled = any(spec.display != spec.name for spec in specs)
    present = [
        *([Column("kind")] if kind is None else []),
        Column("name"),
        *([Column("label", priority=20)] if kind is not None and labelled else []),
        Column("plugin", priority=10),
        Column("description", cut=20 if kind is not None else 30),
        *([Column("params", cut=40)] if kind is not None else []),
    ]
    chosen = pick_columns(columns, [column.key for column in present])
    if shown is OutputFormat.json:
        print_json([_component_json(spec) for spec in specs])
        return
    if not specs:
        warn(f"no {kind or 'components'} registered; see 'zoo plugins' for what loaded")
        return
    rows = [[_component_cells(spec)[column.key] for column in present] for spec in specs]
    print_rows(shown, present, rows, title=kind, chosen=chosen)


def list_plugins(output: FormatOption = None, as_json: JsonOption = False) -> None:
    """List the plugins found, their source, version, hooks and load errors."""
    shown = output_format(output, as_json)
    records = loaded_plugins().records
    if shown is OutputFormat.json:
        print_json([record.as_dict() for record in records])
        return
    rows = [
        (
            r.name,
            "built-in" if r.builtin else (r.distribution or r.module),
            r.version or "",
            ", ".join(h.removeprefix("zoo_register_") for h in r.hooks),
            f"error: {r.error}" if r.error else "ok",
        )
        for r in records
    ]
    columns = [
        Column("plugin"),
        Column("source", priority=10, cut=16),
        Column("version", priority=20),
        Column("registers", priority=5, cut=20),
        Column("status", cut=20),
    ]
    print_rows(shown, columns, rows)
