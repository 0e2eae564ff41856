"""An example erosion-zoo plugin: registers the backbone `tiny_cnn`.

Only pydantic and `zoo.hookimpl` are imported here; torch is imported by `net.py` when a model
is built, so `zoo list` stays fast.
"""

from pydantic import BaseModel, ConfigDict, Field

from zoo import hookimpl


class TinyParams(BaseModel):
    """Params of tiny_cnn."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(8, ge=1, description="filters of the first conv layer")
    blocks: int = Field(3, ge=1, le=6, description="conv blocks, each halving the image")


@hookimpl
def zoo_register_backbones(register):
    """Register tiny_cnn."""
    register(
        "tiny_cnn",
        "zoo_example_plugin.net:build",
        params=TinyParams,
        description="a tiny CNN (example plugin)",
    )
