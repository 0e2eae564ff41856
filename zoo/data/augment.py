"""Random training augmentation on image tensors (torchvision transforms v2).

The thesis's: rotation up to 25 degrees, shear up to 0.1 radians, zoom up to 10 %; optionally a
horizontal flip (left/right hands). Applied per sample to uint8 tensors of shape (1, H, W); what
rotates in from outside the crop is black, as at a radiograph's edge.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchvision.transforms import v2


def make_augment(config: Any) -> v2.Transform | None:
    """The transform for a recipe's `data.augment` section (None: no augmentation)."""
    if config is None:
        return None
    steps: list[v2.Transform] = [
        v2.RandomAffine(
            degrees=config.rotation,
            shear=math.degrees(config.shear),
            scale=(1.0 - config.zoom, 1.0 + config.zoom),
            interpolation=v2.InterpolationMode.BILINEAR,
            fill=0,
        )
    ]
    if config.flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


def augment_batch(transform: v2.Transform, images: torch.Tensor) -> torch.Tensor:
    """Apply `transform` to each image of a (B, 1, H, W) batch with its own random draw."""
    return torch.stack([transform(image) for image in images])
