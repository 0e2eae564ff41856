"""The params of the phantom plugin's components: what a recipe may set, checked before any work."""

from __future__ import annotations

from pydantic import Field

from zoo.paths import RecipePath

from ..common import Params


class PhantomParams(Params):
    """Synthetic joint radiographs written in the SCQM format and loaded through it."""

    patients: int = Field(200, ge=1, le=100_000)
    visits: int = Field(3, ge=1, le=20, description="most visits per patient")
    size: int = Field(128, ge=32, le=512, description="crop size in pixels")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="a whole number from 0 to 2**32 - 1")
    cache_dir: RecipePath | None = Field(
        None, description="where generated datasets are kept (default: the zoo's cache folder)"
    )
