"""Training augmentation that moves points with the pixels (landmarks targets), by kornia.

kornia's `AugmentationSequential` warps a batch of images and transforms its keypoints with the
same draws, on the batch's device: rotation up to `rotation` degrees, shear along x up to `shear`
radians, zoom up to `zoom`, a shift up to `shift` of the side, a left/right flip, and contrast
and brightness up to `contrast`. What moves in from outside the image is black, as in
zoo.data.augment. Points are in unit coordinates of the square (zoo.landmarks); a point pushed
out of the image keeps its position outside [0, 1] and the loss leaves it out.

A flip mirrors the image, so a point's position is mirrored; `swap_on_flip` names the pairs whose
names must swap with it (a left and a right eye; a hand's joints keep their names, a left hand
becomes a right one). kornia draws from torch's random stream: each batch's draws are seeded from
the trainer's generator under `fork_rng`, so the same seed gives the same batches and the global
stream (dropout, ...) is left as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import kornia.augmentation as K
import torch
from kornia.augmentation.container.params import ParamItem

from zoo.data.loader import unit_floats


@dataclass
class PointsAugment:
    """Augmentation of (B, 1, S, S) uint8 or [0, 1] float batches with (B, K, 2) unit-coordinate points."""

    rotation: float = 25.0
    shear: float = 0.1
    zoom: float = 0.1
    shift: float = 0.0
    flip: bool = False
    contrast: float = 0.0
    swap: list[tuple[int, int]] = field(default_factory=list)  # index pairs that trade places on a flip
    pipeline: K.AugmentationSequential = field(init=False, repr=False)

    def __post_init__(self) -> None:
        geometric = K.RandomAffine(
            degrees=self.rotation,
            translate=(self.shift, self.shift) if self.shift > 0 else None,
            scale=(1 - self.zoom, 1 + self.zoom) if self.zoom > 0 else None,
            shear=(-math.degrees(self.shear), math.degrees(self.shear)) if self.shear > 0 else None,
            padding_mode="zeros",
            p=1.0,
        )
        steps: list[K.base._AugmentationBase] = [geometric]
        if self.flip:
            steps.append(K.RandomHorizontalFlip(p=0.5))
        if self.contrast > 0:
            low, high = 1 - self.contrast, 1 + self.contrast
            steps += [K.RandomContrast((low, high), p=1.0), K.RandomBrightness((low, high), p=1.0)]
        self.pipeline = K.AugmentationSequential(*steps, data_keys=["input", "keypoints"])

    def apply(
        self, images: torch.Tensor, points: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch warped as floats in [0, 1], and its points moved with it."""
        x = images if images.is_floating_point() else unit_floats(images)
        if len(x) == 0:
            return x, points
        size = x.shape[-1]
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            # kornia's keypoints are pixels with pixel i's centre at i; unit coordinates put it at (i + 0.5) / S
            warped, moved = self.pipeline(x, points.float() * size - 0.5)
        moved = (moved + 0.5) / size
        if self.flip and self.swap:
            flipped = self._flipped(len(x))
            for a, b in self.swap:
                moved[flipped, a], moved[flipped, b] = moved[flipped, b].clone(), moved[flipped, a].clone()
        return warped, moved.to(points.dtype)

    def _flipped(self, count: int) -> torch.Tensor:
        """Which samples of the last batch the flip mirrored."""
        for params in cast(list[ParamItem], self.pipeline._params or []):
            if params.name.startswith("RandomHorizontalFlip"):
                return cast(dict[str, torch.Tensor], params.data)["batch_prob"].bool()
        return torch.zeros(count, dtype=torch.bool)
