"""The registry: every component by kind and name, with its params model and its plugin.

A component is registered with a factory that may be a `"module:attr"` string; it is imported
only by `ComponentSpec.load()`, so listing and validating never import torch. Its params model may
be a reference too, imported when first needed (`ComponentSpec.params`), so that loading the
plugins imports neither torch nor pydantic.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from zoo.compose.kinds import KIND_NOUN, KINDS
from zoo.errors import UsageError, ZooError
from zoo.protocols import CheckedRecipe, Reference, RegisterCheck, RegisterComponent

if TYPE_CHECKING:  # pydantic is imported when a params model is first needed
    from pydantic import BaseModel

# A recipe cross-check: `check(recipe, registry)` gives (field path, message) pairs, none when the recipe is fine.
Check = Callable[[CheckedRecipe, "Registry"], list[tuple[str, str]]]


def resolve_reference(reference: Reference) -> Callable[..., Any]:
    """Import a `"module:attr"` reference, or return a callable unchanged."""
    if callable(reference):
        return reference
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ZooError(
            f"'{reference}' is not a 'module:attr' reference",
            hint="a factory string names a module and an attribute, e.g. 'my_pkg.net:build'",
        )
    module = importlib.import_module(module_name)
    try:
        factory: Callable[..., Any] = getattr(module, attr)
    except AttributeError:
        raise ZooError(
            f"module '{module_name}' has no attribute '{attr}'",
            hint="check the factory string the plugin registered",
        ) from None
    return factory


@dataclass(frozen=True)
class ComponentSpec:
    """One registered component.

    `targets` lists the targets the component works with (None: any). `provides` and `requires`
    are capability tags that the recipe check matches across the chosen components, e.g. a head
    provides "cdf" and a loss requires "cdf". `preflight` (optional, a callable or "module:attr")
    is called with the validated params by `zoo run` before any heavy import or data work: the
    place to fail fast on what the environment lacks (weights, a licence file), never on recipe
    errors, which validation reports. `restore_params` (optional, a callable or "module:attr")
    maps validated params to those that rebuild a saved model whose weights come from its run
    (e.g. a backbone that would otherwise fetch pretrained weights).
    """

    kind: str
    name: str
    factory: Reference
    params_source: type[BaseModel] | str | None  # the params model, a reference to it, or None
    description: str
    plugin: str
    targets: frozenset[str] | None = None
    provides: frozenset[str] = field(default_factory=frozenset)
    requires: frozenset[str] = field(default_factory=frozenset)
    preflight: Reference | None = None
    restore_params: Reference | None = None
    display: str = ""
    ranks: frozenset[str] = field(default_factory=frozenset)

    @property
    def label(self) -> str:
        """How messages name this component, e.g. "backbone 'resnet18'"."""
        return f"{KIND_NOUN[self.kind]} '{self.name}'"

    @cached_property
    def params(self) -> type[BaseModel]:
        """The component's params model (imported the first time it is asked for)."""
        from zoo.compose.params import params_model

        return params_model(self.params_source, self.label)

    def load(self) -> Callable[..., Any]:
        """Import and return the factory."""
        return resolve_reference(self.factory)

    def check_ready(self, params: BaseModel | Mapping[str, object] | None = None) -> None:
        """Run the component's preflight with validated params (nothing when it has none)."""
        if self.preflight is not None:
            if not isinstance(params, self.params):
                params = self.params.model_validate(params or {})
            resolve_reference(self.preflight)(params)

    def params_for_saved(self, params: BaseModel | Mapping[str, object] | None = None) -> BaseModel:
        """The params that rebuild this component for weights saved by a run."""
        if not isinstance(params, self.params):
            params = self.params.model_validate(params or {})
        if self.restore_params is None:
            return params
        restored: BaseModel = resolve_reference(self.restore_params)(params)
        return restored

    def build(self, params: BaseModel | Mapping[str, object] | None = None, **context: object) -> Any:
        """Validate `params` and call the factory with them and the kind's context.

        A factory that does not take the documented arguments (docs/hooks.md), or fails in a way
        that is not a `ZooError` of its own, is one error naming its plugin and component: it is
        the plugin's to fix, not the zoo's."""
        if not isinstance(params, self.params):
            params = self.params.model_validate(params or {})
        factory = self.load()
        try:
            inspect.signature(factory).bind(params, **context)
        except TypeError as exc:
            raise ZooError(
                f"{self.label} of plugin '{self.plugin}' does not take the documented arguments "
                f"(params, {', '.join(f'{k}=...' for k in context)}): {exc}",
                hint="report this to the plugin's authors (docs/hooks.md has each kind's factory arguments)",
            ) from None
        except ValueError:  # no signature to read (a builtin): the call will tell
            pass
        try:
            return factory(params, **context)
        except ZooError:
            raise
        except Exception as exc:
            raise ZooError(
                f"{self.label} of plugin '{self.plugin}' failed to build ({type(exc).__name__}: {exc})",
                hint="report this to the plugin's authors; ZOO_DEBUG=1 shows where it failed",
            ) from exc


@dataclass(frozen=True)
class CheckSpec:
    """One registered recipe cross-check."""

    name: str
    check: Reference
    description: str
    plugin: str

    def load(self) -> Check:
        """Import and return the check function."""
        return resolve_reference(self.check)


class DuplicateComponentError(ZooError):
    """Two plugins registered the same kind and name."""


class UnknownComponentError(UsageError):
    """A recipe or command named a component nobody registered."""


def suggest(name: str, choices: Iterable[str]) -> list[str]:
    """Return the choices closest to a misspelled name, best first."""
    return difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)


class Registry:
    """Components by kind and name, plus the recipe cross-checks."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, ComponentSpec]] = {kind: {} for kind in KINDS}
        self._checks: dict[str, CheckSpec] = {}
        self.plugins: list[str] = []

    def add(self, spec: ComponentSpec) -> None:
        """Add a component; a name taken in the same kind is an error naming both plugins."""
        if spec.kind not in self._components:
            raise ZooError(f"unknown component kind '{spec.kind}'", hint=f"kinds: {', '.join(KINDS)}")
        existing = self._components[spec.kind].get(spec.name)
        if existing is not None:
            raise DuplicateComponentError(
                f"{spec.label} is registered by both plugin '{existing.plugin}' and plugin '{spec.plugin}'",
                hint="uninstall one of them, or choose plugins with ZOO_PLUGINS=a,b",
            )
        self._components[spec.kind][spec.name] = spec

    def add_check(self, spec: CheckSpec) -> None:
        """Add a recipe cross-check; a name taken is an error naming both plugins."""
        existing = self._checks.get(spec.name)
        if existing is not None:
            raise DuplicateComponentError(
                f"check '{spec.name}' is registered by both plugin '{existing.plugin}' and plugin '{spec.plugin}'",
                hint="uninstall one of them, or choose plugins with ZOO_PLUGINS=a,b",
            )
        self._checks[spec.name] = spec

    def register_function(self, kind: str, plugin: str) -> RegisterComponent:
        """Return the `register` callable handed to one plugin's `zoo_register_<kind>` hook."""

        def register(
            name: str,
            factory: Reference,
            *,
            params: type[BaseModel] | str | None = None,
            description: str = "",
            targets: Iterable[str] | None = None,
            provides: Iterable[str] = (),
            requires: Iterable[str] = (),
            preflight: Reference | None = None,
            restore_params: Reference | None = None,
            display: str | None = None,
            ranks: Iterable[str] = (),
        ) -> None:
            spec = ComponentSpec(
                kind=kind,
                name=name,
                factory=factory,
                params_source=params,
                description=description,
                plugin=plugin,
                targets=None if targets is None else frozenset(targets),
                provides=frozenset(provides),
                requires=frozenset(requires),
                preflight=preflight,
                restore_params=restore_params,
                display=display or name,
                ranks=frozenset(ranks),
            )
            if params is not None and not isinstance(params, str):  # a class: checked now (pydantic made
                from zoo.compose.params import params_model  # it, so it is loaded); a reference: when used

                params_model(params, spec.label)
            self.add(spec)

        return register

    def register_check_function(self, plugin: str) -> RegisterCheck:
        """Return the `register` callable handed to one plugin's `zoo_register_checks` hook."""

        def register(name: str, check: Reference, *, description: str = "") -> None:
            self.add_check(CheckSpec(name=name, check=check, description=description, plugin=plugin))

        return register

    def get(self, kind: str, name: str) -> ComponentSpec:
        """Return a component, or fail with suggestions and the loaded plugins."""
        try:
            return self._components[kind][name]
        except KeyError:
            pass
        noun = KIND_NOUN.get(kind, kind)
        close = suggest(name, self._components.get(kind, {}))
        known = sorted(self._components.get(kind, {}))
        message = f"unknown {noun} '{name}'"
        if close:
            message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        hint = f"known {kind}: {', '.join(known) or 'none'}"
        hint += f"; loaded plugins: {', '.join(self.plugins) or 'none'} (see 'zoo plugins')"
        raise UnknownComponentError(message, hint=hint)

    def components(self, kind: str | None = None) -> list[ComponentSpec]:
        """All components, or those of one kind, sorted by kind and name."""
        kinds = KINDS if kind is None else (kind,)
        return [spec for k in kinds for _, spec in sorted(self._components[k].items())]

    def registered(self, kind: str) -> list[ComponentSpec]:
        """The components of one kind in the order their plugins registered them."""
        return list(self._components[kind].values())

    def checks(self) -> list[CheckSpec]:
        """All recipe cross-checks, sorted by name."""
        return [spec for _, spec in sorted(self._checks.items())]

    def remove_plugin(self, plugin: str) -> None:
        """Drop everything one plugin registered (used when its registration failed part-way)."""
        for by_name in self._components.values():
            for name in [n for n, s in by_name.items() if s.plugin == plugin]:
                del by_name[name]
        for name in [n for n, s in self._checks.items() if s.plugin == plugin]:
            del self._checks[name]
