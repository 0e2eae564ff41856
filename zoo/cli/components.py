"""`zoo list` and `zoo plugins`: what is installed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo.cli.output import print_json, print_table, warn
from zoo.compose.kinds import KINDS
from zoo.errors import UsageError

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


def _params_summary(params: type[BaseModel]) -> str:
    parts = []
    for name, field in params.model_fields.items():
        if field.is_required():
            parts.append(f"{name} (required)")
        else:
            default = field.get_default(call_default_factory=True)
            parts.append(f"{name}={default!r}")
    return ", ".join(parts)


def _component_json(spec: ComponentSpec) -> dict[str, Any]:
    return {
        "kind": spec.kind,
        "name": spec.name,
        "plugin": spec.plugin,
        "description": spec.description,
        "targets": sorted(spec.targets) if spec.targets is not None else None,
        "provides": sorted(spec.provides),
        "requires": sorted(spec.requires),
        "params": spec.params.model_json_schema(),
    }


def list_components(
    kind: Annotated[str | None, typer.Argument(help=f"One of: {', '.join(KINDS)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with params schemas).")] = False,
) -> None:
    """List the registered components, with their plugin and params."""
    if kind is not None and kind not in KINDS:
        from zoo.compose.registry import suggest

        close = suggest(kind, KINDS)
        tip = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(f"unknown kind '{kind}'{tip}", hint=f"kinds: {', '.join(KINDS)}")
    specs = loaded_plugins().registry.components(kind)
    if as_json:
        print_json([_component_json(spec) for spec in specs])
        return
    if not specs:
        warn(f"no {kind or 'components'} registered; see 'zoo plugins' for what loaded")
        return
    if kind is None:
        rows = [(s.kind, s.name, s.plugin, s.description) for s in specs]
        print_table(None, ["kind", "name", "plugin", "description"], rows)
        return
    rows = [(s.name, s.plugin, s.description, _params_summary(s.params)) for s in specs]
    print_table(kind, ["name", "plugin", "description", "params"], rows)


def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the plugins found, their source, version, hooks and load errors."""
    records = loaded_plugins().records
    if as_json:
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
    print_table(None, ["plugin", "source", "version", "registers", "status"], rows)
