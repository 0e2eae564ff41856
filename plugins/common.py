"""Shared pieces of the built-in plugins."""

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base of every built-in params model: unknown params are errors."""

    model_config = ConfigDict(extra="forbid")
