"""The backbones' recipe checks: what capability tags cannot say about a backbone and its recipe."""

from __future__ import annotations

from pathlib import Path

from zoo.protocols import CheckedRecipe

from . import TIMM_BACKBONES
from .params import ThesisVGGParams
from .weights import nonfinite_tensor

INCEPTION_MIN_SIZE = 75  # InceptionV3's stem and reductions need at least 75 px


def backbone_image_size(recipe: CheckedRecipe, registry: object) -> list[tuple[str, str]]:
    """Backbones that shrink the image a fixed number of times need a smallest input size."""
    backbone = recipe.model.backbone
    if backbone.name == "thesis_vgg":
        filters = backbone.params.get("filters")  # a list: the params are validated
        blocks = len(filters) if isinstance(filters, list) else len(ThesisVGGParams().filters)
        smallest, why = 2**blocks, f"with {blocks} blocks "
    elif backbone.name == "inception_v3":
        smallest, why = INCEPTION_MIN_SIZE, ""
    else:
        return []
    if recipe.data.image_size < smallest:
        return [("data.image_size", f"backbone '{backbone.name}' {why}needs images of at least {smallest} px")]
    return []


def pretrained_file_exists(recipe: CheckedRecipe, registry: object) -> list[tuple[str, str]]:
    """A timm backbone's `pretrained: PATH` must name an existing file of numbers (no NaN)."""
    backbone = recipe.model.backbone
    pretrained = backbone.params.get("pretrained")
    if (backbone.name in TIMM_BACKBONES or backbone.name == "timm") and isinstance(pretrained, str):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            return [("model.backbone.params.pretrained", f"weights file '{path.resolve()}' does not exist")]
        bad = nonfinite_tensor(path)
        if bad is not None:
            return [("model.backbone.params.pretrained", f"'{path}' holds NaN or infinite weights (first: '{bad}')")]
    return []
