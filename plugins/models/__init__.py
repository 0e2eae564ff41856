"""The trained models that ship with the zoo: a joint locator and an erosion scorer (docs/models.md).

Each is a bundle folder beside this file, registered like any component (kind `models`), so a
third-party package ships its own the same way: a `zoo_register_models` hook whose factory returns
the bundle's folder.
"""

from __future__ import annotations

from pathlib import Path

from zoo import hookimpl
from zoo.protocols import RegisterComponent

HERE = Path(__file__).parent


@hookimpl
def zoo_register_models(register: RegisterComponent) -> None:
    """Register the joint locator and the erosion scorer."""
    register(
        "joint-locator",
        "zoo_plugins.models:joint_locator",
        description="locates 37 hand landmarks (the ten scoring joints among them) on a hand radiograph",
        targets=["landmarks"],
        provides=["default"],  # `zoo predict` locates joints on radiographs with it unless told otherwise
    )
    register(
        "erosion-scorer",
        "zoo_plugins.models:erosion_scorer",
        description="Ratingen stage of a finger-joint crop (the quickstart's model; synthetic training data)",
        targets=["stage"],
        provides=["default"],  # and scores joints with it
    )


def joint_locator(params: object) -> Path:
    """The joint locator's bundle folder."""
    return HERE / "joint_locator"


def erosion_scorer(params: object) -> Path:
    """The erosion scorer's bundle folder."""
    return HERE / "erosion_scorer"
