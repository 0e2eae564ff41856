"""The plugin manager: finds plugins through entry points and builds the registry from them.

Built-in components are ordinary plugins declared in the zoo's own `[project.entry-points.zoo]`,
so they load through exactly the path third-party packages use. Every plugin loads in isolation:
one that fails to import, implements a misspelled hook, or raises while registering is recorded
(see `zoo plugins`) and skipped; the others keep working.

Hooks are called through pluggy (`manager.hook.zoo_register_backbones(register=...)`), so hook
wrappers, `tryfirst`/`trylast` and pluggy's tracing apply to them. Each implementation runs under
a guard that catches what it raises (sys.exit() included, KeyboardInterrupt excepted) and tells
the `register` callable which plugin is running; a plugin's components are held back until every
registration hook ran and then committed in load order, so that of two plugins registering the
same name the later-loaded one is the one skipped, whatever the call order.

Environment:
- `ZOO_DISABLE_PLUGIN_AUTOLOAD=1`: load no entry point automatically.
- `ZOO_PLUGINS=a,b`: load only the plugins (entry-point names) listed; this also works together
  with `ZOO_DISABLE_PLUGIN_AUTOLOAD`. A listed name that is not installed is reported.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable, Generator, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, cast

import pluggy

from zoo.compose import hookspecs
from zoo.compose.entry_points import EntryPoint, entry_points
from zoo.compose.kinds import KINDS
from zoo.compose.registry import CheckSpec, ComponentSpec, Registry
from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.protocols import Commands

ENTRY_POINT_GROUP = "zoo"
DISABLE_ENV = "ZOO_DISABLE_PLUGIN_AUTOLOAD"
SELECT_ENV = "ZOO_PLUGINS"
OWN_DISTRIBUTION = "erosion-zoo"
HOOK_NAMES = tuple(name for name in dir(hookspecs) if name.startswith("zoo_"))
# The hooks that build the registry, in the order they are called (and listed in `zoo plugins`).
REGISTRATION_HOOKS = (*(f"zoo_register_{kind}" for kind in KINDS), "zoo_register_checks")

T = TypeVar("T")


class PluginInfo(TypedDict):
    """A plugin as `zoo plugins --format json` shows it (and env.json records its version)."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    builtin: bool
    hooks: list[str]
    error: str | None


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

    def as_dict(self) -> PluginInfo:
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
        return (0 if ep.distribution == OWN_DISTRIBUTION else 1, ep.distribution, ep.name)

    return sorted(entry_points(ENTRY_POINT_GROUP), key=key)


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
        distribution=ep.distribution,
        version=ep.version,
    )


@dataclass
class _HookCall:
    """One isolated call of a zoo hook: the plugin whose implementation runs now, the ones that raised."""

    current: str | None = None
    failures: dict[str, BaseException] = field(default_factory=dict)


_ACTIVE_CALL: ContextVar[_HookCall | None] = ContextVar("zoo_hook_call", default=None)
_ISOLATED = "__zoo_isolated__"


def _run_as(call: _HookCall, plugin_name: str, step: Callable[[], T]) -> tuple[bool, T | None]:
    """Run one step of a plugin's hook as that plugin; record what it raises instead of raising."""
    previous, call.current = call.current, plugin_name
    try:
        return True, step()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a broken plugin must not take the zoo down, sys.exit() included
        call.failures.setdefault(plugin_name, exc)
        return False, None
    finally:
        call.current = previous


def _start_wrapper(teardown: Generator[None, object, object]) -> Generator[None, object, object]:
    """Run a hook wrapper up to its `yield`."""
    try:
        next(teardown)
    except StopIteration:
        raise RuntimeError("the hook wrapper did not yield") from None
    return teardown


def _finish_wrapper(teardown: Generator[None, object, object], result: object) -> object:
    """Resume a hook wrapper after its `yield`; return what it returns."""
    try:
        teardown.send(result)
    except StopIteration as stop:
        return stop.value
    teardown.close()
    raise RuntimeError("the hook wrapper yielded twice")


def _isolated(impl: pluggy.HookImpl) -> Callable[..., object]:
    """`impl`'s function, guarded: while a zoo call is active, what it raises is recorded, not raised."""
    function = impl.function
    plugin_name = impl.plugin_name

    if impl.wrapper or impl.hookwrapper:
        # pluggy types `function` as returning a value or a generator; a wrapper's always returns a generator.
        wrapper_function = cast(Callable[..., Generator[None, object, object]], function)

        @functools.wraps(function)
        def isolated_wrapper(*args: object, **kwargs: object) -> Generator[None, object, object]:
            call = _ACTIVE_CALL.get()
            if call is None:  # called by someone else's code: plain pluggy behaviour
                return (yield from wrapper_function(*args, **kwargs))
            _, teardown = _run_as(call, plugin_name, lambda: _start_wrapper(wrapper_function(*args, **kwargs)))
            try:
                result = yield
            except BaseException:  # KeyboardInterrupt on its way out: let the wrapper clean up
                if teardown is not None:
                    teardown.close()
                raise
            if teardown is None:  # its setup failed: pass the result through unchanged
                return result
            finished, value = _run_as(call, plugin_name, lambda: _finish_wrapper(teardown, result))
            return value if finished else result

        return isolated_wrapper

    @functools.wraps(function)
    def isolated(*args: object, **kwargs: object) -> object:
        call = _ACTIVE_CALL.get()
        if call is None:
            return function(*args, **kwargs)
        return _run_as(call, plugin_name, lambda: function(*args, **kwargs))[1]

    return isolated


def call_isolated(manager: pluggy.PluginManager, hook_name: str, **kwargs: object) -> dict[str, BaseException]:
    """Call a hook through pluggy, each implementation isolated; return {plugin name: what it raised}."""
    caller: pluggy.HookCaller = getattr(manager.hook, hook_name)
    for impl in caller.get_hookimpls():
        if not getattr(impl.function, _ISOLATED, False):
            guarded = _isolated(impl)
            setattr(guarded, _ISOLATED, True)
            impl.function = guarded  # type: ignore[misc]  # Final to type checkers only; argnames stay
    call = _HookCall()
    token = _ACTIVE_CALL.set(call)
    try:
        caller(**kwargs)
    finally:
        _ACTIVE_CALL.reset(token)
    return call.failures


def _running_plugin() -> str:
    """The plugin whose hook implementation is running now."""
    call = _ACTIVE_CALL.get()
    if call is None or call.current is None:
        raise ZooError(
            "register was called outside a zoo hook",
            hint="call `register` only while your zoo_register_* hook runs",
        )
    return call.current


class _Staging(Registry):
    """One plugin's registrations, validated as they come, held back until committed in load order."""

    def __init__(self) -> None:
        super().__init__()
        self.added: list[ComponentSpec | CheckSpec] = []

    def add(self, spec: ComponentSpec) -> None:
        """Validate and keep a component."""
        super().add(spec)
        self.added.append(spec)

    def add_check(self, spec: CheckSpec) -> None:
        """Validate and keep a recipe cross-check."""
        super().add_check(spec)
        self.added.append(spec)

    def commit(self, registry: Registry) -> None:
        """Add everything kept to `registry`, in the order it was registered."""
        for spec in self.added:
            if isinstance(spec, CheckSpec):
                registry.add_check(spec)
            else:
                registry.add(spec)


def _register_callable(staged: dict[str, _Staging], kind: str | None) -> Callable[..., None]:
    """The `register` argument of one registration hook call; it files under the running plugin."""

    def register(*args: Any, **kwargs: Any) -> None:
        plugin = _running_plugin()
        staging = staged.setdefault(plugin, _Staging())
        if kind is None:
            staging.register_check_function(plugin)(*args, **kwargs)
        else:
            staging.register_function(kind, plugin)(*args, **kwargs)

    return register


def _register_components(manager: pluggy.PluginManager, registry: Registry, loaded: list[PluginRecord]) -> None:
    """Call the registration hooks through pluggy, then commit each plugin that did not fail, in load order."""
    staged: dict[str, _Staging] = {record.name: _Staging() for record in loaded}
    failed: dict[str, BaseException] = {}
    for hook_name in REGISTRATION_HOOKS:
        kind = hook_name.removeprefix("zoo_register_")
        register = _register_callable(staged, None if kind == "checks" else kind)
        for name, raised in call_isolated(manager, hook_name, register=register).items():
            failed.setdefault(name, raised)
            manager.unregister(name=name)  # its remaining hooks are not called
    for record in loaded:
        exc = failed.get(record.name)
        if exc is None:
            try:
                staged[record.name].commit(registry)
            except ZooError as clash:  # a name an earlier-loaded plugin took
                exc = clash
                registry.remove_plugin(record.name)
                manager.unregister(name=record.name)
        if exc is not None:
            record.error = f"registration failed: {type(exc).__name__}: {exc}"
            continue
        callers = {caller.name for caller in manager.get_hookcallers(manager.get_plugin(record.name)) or []}
        record.hooks = [name for name in REGISTRATION_HOOKS if name in callers]
        registry.plugins.append(record.name)


def _new_manager() -> pluggy.PluginManager:
    """A plugin manager that knows the zoo's hook specs."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins(
    environ: Mapping[str, str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> Plugins:
    """Load the selected entry-point plugins (plus `extra` (name, module) pairs) in isolation."""
    env = os.environ if environ is None else environ
    registry = Registry()
    records: list[PluginRecord] = []

    selected_raw = env.get(SELECT_ENV)
    selected = None
    if selected_raw is not None:
        selected = [n.strip() for n in selected_raw.split(",") if n.strip()]
    autoload = not _truthy(env.get(DISABLE_ENV)) or selected is not None

    candidates: list[tuple[PluginRecord, Callable[..., object]]] = []
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

    checker = _new_manager()  # vets each plugin in load order: name clashes, misspelled hooks
    accepted: list[tuple[PluginRecord, object]] = []
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
            checker.register(plugin, name=record.name)
        except (ValueError, pluggy.PluginValidationError) as exc:  # e.g. a hook argument the spec lacks
            record.error = f"could not register: {exc}"
            continue
        problems = _hook_problems(checker, plugin)
        if problems:
            record.error = "; ".join(problems)
            checker.unregister(plugin)
            continue
        accepted.append((record, plugin))

    # pluggy calls the plugin registered last first; registering in reverse makes the default call
    # order the load order (built-ins first), which tryfirst/trylast and wrappers then adjust.
    manager = _new_manager()
    for record, plugin in reversed(accepted):
        manager.register(plugin, name=record.name)
    _register_components(manager, registry, [record for record, _ in accepted])
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


def register_commands(plugins: Plugins, commands: Commands) -> None:
    """Let each plugin add CLI commands; a plugin that fails here is recorded, the rest go on."""
    by_name = {record.name: record for record in plugins.records}
    failures = call_isolated(plugins.manager, "zoo_register_commands", commands=commands)
    for impl in plugins.manager.hook.zoo_register_commands.get_hookimpls():
        record = by_name.get(impl.plugin_name)
        if record is None:
            continue
        exc = failures.get(impl.plugin_name)
        if exc is not None:
            record.error = f"command registration failed: {type(exc).__name__}: {exc}"
            continue
        record.hooks.append("zoo_register_commands")
