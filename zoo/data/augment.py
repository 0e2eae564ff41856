"""Random training augmentation, a whole batch at once on the training device.

The thesis's transforms: rotation up to `rotation` degrees, shear (along x) up to `shear`
radians, zoom up to `zoom` (a fraction), and optionally a horizontal flip (left/right hands).
Each sample gets its own uniform draw of every parameter, as torchvision's `RandomAffine` draws
them; the whole batch is then warped by one `affine_grid` + `grid_sample` call (bilinear; what
moves in from outside the crop is black, as at a radiograph's edge). Draws come from a
`torch.Generator` on the batch's device that the caller seeds, so the same seed gives the same
batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from zoo.compose.recipe import AugmentConfig


@dataclass(frozen=True)
class AffineDraws:
    """One batch's drawn parameters, one value per sample."""

    angle: torch.Tensor  # degrees
    shear: torch.Tensor  # radians, along x
    scale: torch.Tensor  # zoom factor
    flip: torch.Tensor  # bool


@dataclass(frozen=True)
class BatchAugment:
    """The thesis's augmentation for (B, C, H, W) float batches on any device."""

    rotation: float = 25.0
    shear: float = 0.1
    zoom: float = 0.1
    flip: bool = False

    def draw(self, count: int, generator: torch.Generator) -> AffineDraws:
        """Every sample's parameters, uniform in the configured ranges (on the generator's device)."""

        def uniform(half_width: float) -> torch.Tensor:
            values = torch.rand(count, generator=generator, device=generator.device)
            return (values * 2.0 - 1.0) * half_width

        angle, shear, zoom = uniform(self.rotation), uniform(self.shear), uniform(self.zoom)
        flip = torch.rand(count, generator=generator, device=generator.device) < 0.5
        return AffineDraws(angle, shear, 1.0 + zoom, flip & self.flip)

    @staticmethod
    def matrices(draws: AffineDraws) -> torch.Tensor:
        """(B, 2, 3) matrices from output to input coordinates (normalised, centred).

        The forward map zooms, shears along x, rotates, then flips; `grid_sample` needs its inverse.
        """
        angle = torch.deg2rad(draws.angle)
        cos, sin = torch.cos(angle), torch.sin(angle)
        tan = -torch.tan(draws.shear)  # torchvision's sign: the same warp as its affine() for the same draw
        forward = torch.stack(
            [
                torch.stack([cos, cos * tan - sin], dim=1),
                torch.stack([sin, sin * tan + cos], dim=1),
            ],
            dim=1,
        ) * draws.scale[:, None, None]
        mirror = torch.where(draws.flip, -1.0, 1.0)
        forward = forward * torch.stack([mirror, torch.ones_like(mirror)], dim=1)[:, :, None]
        inverse = torch.linalg.inv(forward)
        return torch.cat([inverse, torch.zeros(len(angle), 2, 1, device=angle.device)], dim=2)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The batch, each image warped by its own draw."""
        if len(images) == 0:
            return images
        theta = self.matrices(self.draw(len(images), generator)).to(images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def make_augment(config: AugmentConfig | None) -> BatchAugment | None:
    """The augmentation of a recipe's `data.augment` section (None: no augmentation)."""
    if config is None:
        return None
    return BatchAugment(config.rotation, config.shear, config.zoom, config.flip)
