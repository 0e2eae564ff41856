"""Random training augmentation, a whole batch at once on the training device.

The thesis's transforms: rotation up to `rotation` degrees, shear (along x) up to `shear`
radians, zoom up to `zoom` (a fraction), and optionally a horizontal flip (left/right hands).
Each sample gets its own uniform draw of every parameter, as torchvision's `RandomAffine` draws
them; the whole batch is then warped by one `grid_sample` call (bilinear; what moves in from
outside the crop is black, as at a radiograph's edge). Draws come from a `torch.Generator` on the
batch's device that the caller seeds, so the same seed gives the same batches.

Speed (docs/benchmarks.md): the sampling grid is two broadcast multiply-adds per sample, not
`affine_grid`'s batched matrix product (several times faster on a CPU). On a CPU the batch is
warped in chunks of `CPU_CHUNK` images whose grids go into one buffer kept between batches, so a
grid stays in the cache and its memory is not mapped anew for every chunk; the grids' small
broadcast terms are computed once per batch, not per chunk. The trainer hands over its uint8
batch, and each chunk is scaled to [0, 1] just before its warp, while it is in the cache (a whole
batch scaled first and warped after was slower: docs/benchmarks.md); each warped chunk is
written into the float batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from zoo.data.loader import unit_floats

CPU_CHUNK = 32  # images warped per grid_sample call on a CPU: small enough for the cache


@dataclass(frozen=True)
class AffineDraws:
    """One batch's drawn parameters, one value per sample."""

    angle: torch.Tensor  # degrees
    shear: torch.Tensor  # radians, along x
    scale: torch.Tensor  # zoom factor
    flip: torch.Tensor  # bool


@dataclass(frozen=True)
class BatchAugment:
    """The thesis's augmentation for (B, C, H, W) batches, uint8 (0-255) or float in [0, 1], on any
    device. An instance keeps a CPU grid buffer: use one instance per thread (each trainer makes
    its own)."""

    rotation: float = 25.0
    shear: float = 0.1
    zoom: float = 0.1
    flip: bool = False
    grid_buffers: dict[tuple[int, int, torch.dtype], torch.Tensor] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # CPU: one chunk's sampling grid per image size, reused by every batch (one thread at a time)

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
        forward = (
            torch.stack(
                [
                    torch.stack([cos, cos * tan - sin], dim=1),
                    torch.stack([sin, sin * tan + cos], dim=1),
                ],
                dim=1,
            )
            * draws.scale[:, None, None]
        )
        mirror = torch.where(draws.flip, -1.0, 1.0)
        forward = forward * torch.stack([mirror, torch.ones_like(mirror)], dim=1)[:, :, None]
        (a, b), (c, d) = forward[:, 0].unbind(1), forward[:, 1].unbind(1)
        determinant = a * d - b * c  # the 2x2 inverse in closed form: linalg.inv would wait for the GPU
        inverse = torch.stack([torch.stack([d, -b], dim=1), torch.stack([-c, a], dim=1)], dim=1)
        inverse = inverse / determinant[:, None, None]
        return torch.cat([inverse, torch.zeros(len(angle), 2, 1, device=angle.device)], dim=2)

    def apply(
        self, images: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch augmented (as `__call__`) with its targets, which a crop's warp leaves as they are."""
        return self(images, generator), targets

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Each image of the batch warped by its own draw, as floats in [0, 1].

        `images` is a uint8 batch (0-255, scaled as it is warped) or a fresh float batch in
        [0, 1] that the caller gives up. On a CPU the batch is warped `CPU_CHUNK` images at a time:
        a uint8 chunk is scaled just before its warp, while it is in the cache, and each warped
        chunk is written into one float batch: the float batch given is overwritten and returned
        (allocating a second batch there costs about as much as the warp itself). On a GPU the
        result is a new tensor."""
        floats = images.is_floating_point()
        if not floats and images.dtype != torch.uint8:
            raise TypeError(f"augmentation takes uint8 or float batches, not {images.dtype}")
        if len(images) == 0:
            return images if floats else images.float()
        theta = self.matrices(self.draw(len(images), generator)).to(images.dtype if floats else torch.float32)
        if images.device.type != "cpu":
            return warp(images if floats else unit_floats(images), theta)
        height, width = images.shape[2], images.shape[3]
        key = (height, width, theta.dtype)
        if key not in self.grid_buffers:
            self.grid_buffers[key] = torch.empty(CPU_CHUNK, height, width, 2, dtype=theta.dtype)
        columns, rows = grid_terms(theta, height, width)  # once per batch: they take many small operations
        warped = images if floats else torch.empty(images.shape, dtype=theta.dtype)
        for begin in range(0, len(images), CPU_CHUNK):
            chunk = slice(begin, begin + CPU_CHUNK)
            source = images[chunk] if floats else unit_floats(images[chunk])
            grid = fill_grid(columns[chunk], rows[chunk], self.grid_buffers[key][: len(source)])
            warped[chunk] = bilinear(source, grid)
        return warped


def grid_terms(theta: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample's sampling grid as two broadcast terms per coordinate (dim 1: x, y): the output
    column times theta[:, :, 0], (B, 2, 1, W), and the output row times theta[:, :, 1] plus
    theta[:, :, 2], (B, 2, H, 1). Their sum is `affine_grid(theta)` with align_corners=False."""
    xs = (torch.arange(width, device=theta.device, dtype=theta.dtype) * 2 + 1) / width - 1
    ys = (torch.arange(height, device=theta.device, dtype=theta.dtype) * 2 + 1) / height - 1
    columns = theta[:, :, 0, None, None] * xs[None, None, None, :]
    rows = theta[:, :, 1, None, None] * ys[None, None, :, None] + theta[:, :, 2, None, None]
    return columns, rows


def fill_grid(columns: torch.Tensor, rows: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Write the terms' sums into `grid`, (B, H, W, 2): two broadcast adds, one per coordinate."""
    for axis in (0, 1):
        torch.add(columns[:, axis], rows[:, axis], out=grid[..., axis])
    return grid


def sampling_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, H, W, 2) input coordinates of every output pixel: `affine_grid(theta)` with
    align_corners=False, as two broadcast multiply-adds."""
    grid = torch.empty(len(theta), height, width, 2, device=theta.device, dtype=theta.dtype)
    return fill_grid(*grid_terms(theta, height, width), grid)


def bilinear(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """`images` sampled bilinearly at `grid`; what falls outside is black."""
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) images, each warped bilinearly by its (2, 3) output-to-input matrix."""
    return bilinear(images, sampling_grid(theta, images.shape[2], images.shape[3]))
