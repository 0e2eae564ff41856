"""The registry: names, params models, lazy factories, duplicates and suggestions."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from zoo.compose.params import NoParams
from zoo.compose.registry import DuplicateComponentError, Registry, UnknownComponentError
from zoo.errors import ZooError


class Width(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = 4


def build(params: Width, **context: object) -> tuple[int, dict[str, object]]:
    return params.width, dict(context)


def test_register_and_build_validates_params_and_passes_context() -> None:
    registry = Registry()
    registry.register_function("backbones", "mine")("net", build, params=Width, description="d")
    spec = registry.get("backbones", "net")
    assert (spec.plugin, spec.description, spec.label) == ("mine", "d", "backbone 'net'")
    assert spec.build({"width": 7}, in_chans=1) == (7, {"in_chans": 1})
    with pytest.raises(Exception, match="width"):
        spec.build({"width": "wide"}, in_chans=1)


def test_factory_string_is_imported_only_when_built() -> None:
    registry = Registry()
    registry.register_function("losses", "mine")("l", "no_such_module_xyz:build")
    spec = registry.get("losses", "l")  # registering and looking up import nothing
    assert spec.params is NoParams
    with pytest.raises(ModuleNotFoundError):
        spec.build()


def test_bad_factory_reference_is_a_clear_error() -> None:
    registry = Registry()
    registry.register_function("losses", "mine")("l", "json:no_such_attr")
    registry.register_function("losses", "mine")("m", "missing_colon")
    with pytest.raises(ZooError, match="has no attribute 'no_such_attr'"):
        registry.get("losses", "l").build()
    with pytest.raises(ZooError, match="not a 'module:attr' reference"):
        registry.get("losses", "m").build()


def test_duplicate_name_names_both_plugins() -> None:
    registry = Registry()
    registry.register_function("heads", "first")("h", build)
    with pytest.raises(DuplicateComponentError, match="plugin 'first' and plugin 'second'"):
        registry.register_function("heads", "second")("h", build)
    registry.register_function("losses", "second")("h", build)  # same name, other kind: fine


def test_unknown_name_suggests_and_lists_plugins() -> None:
    registry = Registry()
    registry.plugins.append("mine")
    registry.register_function("backbones", "mine")("resnet18", build)
    with pytest.raises(UnknownComponentError) as info:
        registry.get("backbones", "resnet81")
    assert "did you mean 'resnet18'" in info.value.message
    assert "loaded plugins: mine" in (info.value.hint or "")


def test_params_model_must_forbid_extra_fields() -> None:
    class Loose(BaseModel):
        width: int = 1

    register = Registry().register_function("backbones", "mine")
    with pytest.raises(ZooError, match="extra='forbid'"):
        register("net", build, params=Loose)
    with pytest.raises(ZooError, match="pydantic model class"):
        register("net", build, params=dict)  # type: ignore[arg-type]


def test_remove_plugin_drops_only_its_components() -> None:
    registry = Registry()
    registry.register_function("heads", "a")("x", build)
    registry.register_function("heads", "b")("y", build)
    registry.remove_plugin("a")
    assert [s.name for s in registry.components("heads")] == ["y"]


def test_preflight_runs_with_validated_params_before_any_build() -> None:
    from pydantic import BaseModel, ConfigDict

    from zoo.compose.registry import Registry

    class P(BaseModel):
        model_config = ConfigDict(extra="forbid")
        size: int = 3

    seen = []
    registry = Registry()
    registry.register_function("backbones", "third")(
        "ready", lambda params, **_: None, params=P, preflight=lambda params: seen.append(params.size)
    )
    registry.get("backbones", "ready").check_ready({"size": 5})
    assert seen == [5]
