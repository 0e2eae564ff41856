"""The recipe's JSON Schema, for editors: the `Recipe` model with every registered component.

Wherever a recipe names a component (`COMPONENT_FIELDS`), the schema offers one choice per
component of that kind in the registry: `{name: <const>, params: <its params model>}`, or the
bare name when the component has no required params. `eval.metrics` offers the metric names.
Built from the live registry, so third-party plugins' components appear too; `RecipePath`
params are strings. Checks the schema cannot express (split fractions summing to 1, the
cross-checks) stay with `zoo validate`.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from zoo.compose.kinds import KIND_NOUN
from zoo.compose.recipe import COMPONENT_FIELDS, EXTRA_COMPONENTS, Recipe
from zoo.compose.registry import ComponentSpec, Registry

DRAFT = "https://json-schema.org/draft/2020-12/schema"
DEFS = "#/$defs/"
METRICS_FIELD = ("eval", "metrics")

Schema = dict[str, Any]


def _ref(key: str) -> str:
    """A `$ref` to `$defs[key]` (a JSON Pointer in a URI fragment)."""
    return DEFS + quote(key.replace("~", "~0").replace("/", "~1"), safe="")


def _rewrite_refs(node: object, rename: dict[str, str]) -> object:
    """`node` with every `$ref` into `$defs` renamed: old `$defs` key -> new key."""
    if isinstance(node, dict):
        return {
            key: _ref(rename[value.removeprefix(DEFS)])
            if key == "$ref" and isinstance(value, str) and value.removeprefix(DEFS) in rename
            else _rewrite_refs(value, rename)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item, rename) for item in node]
    return node


def _replace(node: object, old: Schema, new: Schema) -> object:
    """`node` with every subschema equal to `old` replaced by `new`."""
    if node == old:
        return copy.deepcopy(new)
    if isinstance(node, dict):
        return {key: _replace(value, old, new) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace(item, old, new) for item in node]
    return node


def _object_with(schema: Schema, defs: Schema, name: str) -> Schema:
    """The object schema (through `$ref` and `anyOf`) that has property `name`."""
    if "$ref" in schema:
        return _object_with(defs[schema["$ref"].removeprefix(DEFS)], defs, name)
    if name in schema.get("properties", {}):
        return schema
    for member in schema.get("anyOf", []):
        try:
            return _object_with(member, defs, name)
        except KeyError:
            continue
    raise KeyError(name)


def _update_field(root: Schema, defs: Schema, path: tuple[str, ...], old: Schema, new: Schema) -> None:
    """Replace `old` by `new` inside the schema of the recipe field at `path`."""
    node = root
    for part in path[:-1]:
        node = _object_with(node, defs, part)["properties"][part]
    owner = _object_with(node, defs, path[-1])
    owner["properties"][path[-1]] = _replace(owner["properties"][path[-1]], old, new)


def _choices(options: list[Schema], description: str) -> Schema:
    """One of `options`; with none, nothing is valid."""
    return {"description": description, "oneOf": options} if options else {"description": description, "not": {}}


class _Defs:
    """The schema's `$defs`, with each params model added once under a collision-free key."""

    def __init__(self, defs: Schema) -> None:
        self.defs = defs
        self.params_keys: dict[type[BaseModel], str] = {}

    def params(self, model: type[BaseModel]) -> str:
        """The `$ref` of a params model's schema, adding it (and its own `$defs`) on first use."""
        if model not in self.params_keys:
            key = base = f"{model.__module__}.{model.__qualname__}"
            count = 1
            while key in self.defs:  # another model of the same name (made by a factory, say)
                count += 1
                key = f"{base}-{count}"
            schema = model.model_json_schema(mode="validation")
            nested = schema.pop("$defs", {})
            rename = {name: f"{key}.{name}" for name in nested}
            self.defs[key] = _rewrite_refs(schema, rename)
            for name, sub in nested.items():
                self.defs[rename[name]] = _rewrite_refs(sub, rename)
            self.params_keys[model] = key
        return _ref(self.params_keys[model])


def _required_params(spec: ComponentSpec) -> list[str]:
    """The params a component cannot do without."""
    return [name for name, field in spec.params.model_fields.items() if field.is_required()]


def _component_choice(spec: ComponentSpec, defs: _Defs) -> Schema:
    """`{name: <const>, params: ...}` for one component."""
    required = _required_params(spec)
    params: Schema = {"$ref": defs.params(spec.params)}
    if not required:  # `params: null` means no params
        params = {"anyOf": [params, {"type": "null"}]}
    return {
        "type": "object",
        "title": spec.label,
        "description": _describe(spec),
        "properties": {"name": {"const": spec.name}, "params": params},
        "required": ["name", "params"] if required else ["name"],
        "additionalProperties": False,
    }


def _describe(spec: ComponentSpec) -> str:
    """The component's description and its plugin, for hovers and completions."""
    return f"{spec.description}; from plugin '{spec.plugin}'" if spec.description else f"from plugin '{spec.plugin}'"


def _kind_schema(kind: str, registry: Registry, defs: _Defs) -> Schema:
    """Every component of `kind`: by bare name (those needing no params) or as `{name, params}`."""
    options: list[Schema] = []
    for spec in registry.components(kind):
        if not _required_params(spec):
            options.append({"const": spec.name, "description": _describe(spec)})
        options.append(_component_choice(spec, defs))
    noun = KIND_NOUN[kind]
    return _choices(options, f"a registered {noun}: its name, or {{name, params}} ('zoo list {kind}')")


def recipe_schema(registry: Registry) -> Schema:
    """The JSON Schema (draft 2020-12) of a recipe, with the components of `registry`."""
    schema = Recipe.model_json_schema(mode="validation")
    defs = _Defs(schema.pop("$defs"))
    component_ref = {"$ref": DEFS + "ComponentRef"}
    for path, kind in COMPONENT_FIELDS.items():
        key = f"component.{kind}"
        defs.defs[key] = _kind_schema(kind, registry, defs)
        _update_field(schema, defs.defs, path, component_ref, {"$ref": _ref(key)})
    extra = defs.defs["ExtraTarget"]["properties"]  # each extra target's head and loss
    for part, kind in EXTRA_COMPONENTS.items():
        extra[part] = _replace(extra[part], component_ref, {"$ref": _ref(f"component.{kind}")})
    del defs.defs["ComponentRef"]  # every use of it is a component field, replaced above
    metrics = [{"const": s.name, "description": _describe(s)} for s in registry.components("metrics")]
    defs.defs["component.metrics"] = _choices(metrics, "a registered metric ('zoo list metrics')")
    _update_field(schema, defs.defs, METRICS_FIELD, {"type": "string"}, {"$ref": _ref("component.metrics")})
    return {
        "$schema": DRAFT,
        **schema,
        "title": "erosion zoo recipe",
        "description": "A zoo recipe, generated by `zoo schema` with the components of the plugins "
        f"{', '.join(registry.plugins) or '(none)'}; regenerate it after installing plugins.",
        "$defs": dict(sorted(defs.defs.items())),
    }
