"""The plugin manager: finds plugins through entry points and builds the registry from them.

Built-in components are ordinary plugins declared in the zoo's own `[project.entry-points.zoo]`,
so they load through exactly the path third-party packages use. Every plugin loads in isolation:
one that fails to import, implements a misspelled hook, or raises while registering is recorded
(see `zoo plugins`) and skipped; the others keep working.

Environment:
- `ZOO_DISABLE_PLUGIN_AUTOLOAD=1`: load no entry point automatically.
- `ZOO_PLUGINS=a,b`: load only the plugins (entry-point names) listed; this also works together
  with `ZOO_DISABLE_PLUGIN_AUTOLOAD`. A listed name that is not installed is reported.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from zoo import hookspecs
from zoo.kinds import KINDS
from zoo.registry import Registry

ENTRY_POINT_GROUP = "zoo"
DISABLE_ENV = "ZOO_DISABLE_PLUGIN_AUTOLOAD"
SELECT_ENV = "ZOO_PLUGINS"
OWN_DISTRIBUTION = "erosion-zoo"
HOOK_NAMES = tuple(name for name in dir(hookspecs) if name.startswith("zoo_"))


@dataclass
class PluginRecord:
    """What `zoo plugins` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def builtin(self) -> bool:
        """True for the plugins that ship with the zoo."""
        return self.distribution == OWN_DISTRIBUTION

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "hooks": self.hooks,
            "error": self.error,
        }


@dataclass
class Plugins:
    """The loaded plugins, their records (failures included) and the registry they built."""

    manager: pluggy.PluginManager
    records: list[PluginRecord]
    registry: Registry

    def failures(self) -> list[PluginRecord]:
        """Plugins that were asked for but did not load."""
        return [record for record in self.records if record.error]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _ordered_entry_points() -> list[EntryPoint]:
    """The zoo's own plugins first, then third-party ones by distribution and name."""

    def key(ep: EntryPoint) -> tuple[int, str, str]:
        dist = ep.dist.name if ep.dist else ""
        return (0 if dist == OWN_DISTRIBUTION else 1, dist, ep.name)

    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=key)


def _hook_problems(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    """Misspelled hooks (no matching spec) and zoo_* functions missing the @hookimpl marker."""
    problems = []
    for caller in manager.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        close = difflib.get_close_matches(caller.name, HOOK_NAMES, n=1)
        tip = f"; did you mean '{close[0]}'?" if close else ""
        problems.append(f"'{caller.name}' is not a zoo hook{tip}")
    marked = {caller.name for caller in manager.get_hookcallers(plugin) or []}
    for attr in dir(plugin):
        if attr in HOOK_NAMES and attr not in marked and callable(getattr(plugin, attr)):
            problems.append(f"'{attr}' lacks the @hookimpl marker (from zoo import hookimpl)")
    return problems


def _record_for(ep: EntryPoint) -> PluginRecord:
    return PluginRecord(
        name=ep.name,
        module=ep.value,
        distribution=ep.dist.name if ep.dist else None,
        version=ep.dist.version if ep.dist else None,
    )


def _register_components(manager: pluggy.PluginManager, registry: Registry, name: str, plugin: object) -> list[str]:
    """Call one plugin's registration hooks; return the hooks it implements."""
    implemented = []
    for kind in KINDS:
        caller = getattr(manager.hook, f"zoo_register_{kind}")
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                impl.function(register=registry.register_function(kind, name))
                implemented.append(caller.name)
    for impl in manager.hook.zoo_register_checks.get_hookimpls():
        if impl.plugin is plugin:
            impl.function(register=registry.register_check_function(name))
            implemented.append("zoo_register_checks")
    return implemented


def load_plugins(
    environ: Mapping[str, str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> Plugins:
    """Load the selected entry-point plugins (plus `extra` (name, module) pairs) in isolation."""
    env = os.environ if environ is None else environ
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registry = Registry()
    records: list[PluginRecord] = []

    selected_raw = env.get(SELECT_ENV)
    selected = None
    if selected_raw is not None:
        selected = [n.strip() for n in selected_raw.split(",") if n.strip()]
    autoload = not _truthy(env.get(DISABLE_ENV)) or selected is not None

    candidates: list[tuple[PluginRecord, Any]] = []
    if autoload:
        available = _ordered_entry_points()
        chosen = [ep for ep in available if selected is None or ep.name in selected]
        candidates += [(_record_for(ep), ep.load) for ep in chosen]
        for missing in [n for n in selected or [] if n not in {ep.name for ep in available}]:
            close = difflib.get_close_matches(missing, [ep.name for ep in available], n=1)
            tip = f"; did you mean '{close[0]}'?" if close else ""
            records.append(
                PluginRecord(
                    name=missing,
                    module="",
                    error=f"{SELECT_ENV} names '{missing}', which is not installed{tip}",
                )
            )
    for name, module in extra:
        module_name = getattr(module, "__name__", type(module).__name__)
        candidates.append((PluginRecord(name=name, module=module_name), lambda m=module: m))

    for record, load in candidates:
        records.append(record)
        try:
            plugin = load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin must not take the zoo down, sys.exit() included
            record.error = f"import failed: {type(exc).__name__}: {exc}"
            continue
        try:
            manager.register(plugin, name=record.name)
        except ValueError as exc:
            record.error = f"could not register: {exc}"
            continue
        problems = _hook_problems(manager, plugin)
        if problems:
            record.error = "; ".join(problems)
            manager.unregister(plugin)
            continue
        try:
            record.hooks = _register_components(manager, registry, record.name, plugin)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            record.error = f"registration failed: {type(exc).__name__}: {exc}"
            registry.remove_plugin(record.name)
            manager.unregister(plugin)
            continue
        registry.plugins.append(record.name)
    return Plugins(manager=manager, records=records, registry=registry)


@functools.cache
def get_plugins() -> Plugins:
    """The plugins of this process, loaded once from the environment."""
    return load_plugins()


def get_registry() -> Registry:
    """The registry of this process."""
    return get_plugins().registry


def reset_plugins() -> None:
    """Forget the loaded plugins so the next call reloads them (tests, long-lived sessions)."""
    get_plugins.cache_clear()


def register_commands(plugins: Plugins, commands: Any) -> None:
    """Let each plugin add CLI commands; a plugin that fails here is recorded, the rest go on."""
    by_name = {record.name: record for record in plugins.records}
    for impl in plugins.manager.hook.zoo_register_commands.get_hookimpls():
        record = by_name[impl.plugin_name]
        try:
            impl.function(commands=commands)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            record.error = f"command registration failed: {type(exc).__name__}: {exc}"
            continue
        record.hooks.append("zoo_register_commands")
