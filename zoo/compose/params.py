"""Components' params models: the empty one, and a model loaded from what a plugin registered.

A plugin registers a component's params as a pydantic model class or as a `"module:attr"`
reference to one, imported only when a recipe or `zoo list` first needs it (so that loading the
plugins, and `zoo --help`, never import pydantic for them). Either way the model must be a
pydantic model that forbids unknown keys, so that a recipe's typo in a param is caught.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from zoo.errors import ZooError
from zoo.protocols import Reference


class NoParams(BaseModel):
    """Params of a component that takes none."""

    model_config = ConfigDict(extra="forbid")


def params_model(source: type[BaseModel] | str | None, label: str, resolve: Reference | None = None) -> type[BaseModel]:
    """The params model a component registered: `NoParams` for none; a reference is imported."""
    if source is None:
        return NoParams
    model: object = source
    if isinstance(source, str):
        from zoo.compose.registry import resolve_reference

        model = resolve_reference(source)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ZooError(
            f"{label}: params must be a pydantic model class",
            hint="pass params=MyParams (or 'my_pkg.params:MyParams') where MyParams subclasses pydantic.BaseModel",
        )
    if model.model_config.get("extra") != "forbid":
        raise ZooError(
            f"{label}: its params model must set extra='forbid'",
            hint="add model_config = ConfigDict(extra='forbid') so typos are caught",
        )
    return model
