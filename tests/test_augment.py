"""Batched augmentation on the device: the thesis's transforms, one draw per sample, seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp, kstest
from torchvision.transforms import InterpolationMode, RandomAffine
from torchvision.transforms.v2 import functional as TF

from zoo.compose.recipe import AugmentConfig
from zoo.data.augment import CPU_CHUNK, AffineDraws, BatchAugment, sampling_grid, warp
from zoo.training.model import make_augment

DRAWS = 20_000


def test_drawn_parameters_follow_the_recipe_and_torchvision() -> None:
    augment = make_augment(AugmentConfig(rotation=25, shear=0.1, zoom=0.1, flip=True))
    assert augment is not None
    draws = augment.draw(DRAWS, torch.Generator().manual_seed(0))
    assert kstest(draws.angle.numpy(), "uniform", args=(-25, 50)).pvalue > 0.01
    assert kstest(draws.shear.numpy(), "uniform", args=(-0.1, 0.2)).pvalue > 0.01
    assert kstest(draws.scale.numpy(), "uniform", args=(0.9, 0.2)).pvalue > 0.01
    assert abs(draws.flip.float().mean().item() - 0.5) < 0.02
    torch.manual_seed(1)
    old = [  # the per-sample path the trainer used before: torchvision's RandomAffine draws
        RandomAffine.get_params([-25.0, 25.0], None, [0.9, 1.1], [-math.degrees(0.1), math.degrees(0.1)], [64, 64])
        for _ in range(DRAWS)
    ]
    assert ks_2samp(draws.angle.numpy(), [p[0] for p in old]).pvalue > 0.01
    assert ks_2samp(draws.scale.numpy(), [p[2] for p in old]).pvalue > 0.01
    assert ks_2samp(np.degrees(draws.shear.numpy()), [p[3][0] for p in old]).pvalue > 0.01


def test_no_flip_unless_asked() -> None:
    draws = BatchAugment(flip=False).draw(1000, torch.Generator().manual_seed(0))
    assert not draws.flip.any()


@pytest.mark.parametrize("angle,shear,scale", [(20.0, 0.0, 1.0), (0.0, 0.08, 1.0), (-15.0, 0.05, 0.93)])
def test_each_draw_warps_as_torchvision_affine_does(angle: float, shear: float, scale: float) -> None:
    image = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(2))
    draws = AffineDraws(torch.tensor([angle]), torch.tensor([shear]), torch.tensor([scale]), torch.tensor([False]))
    ours = warp(image, BatchAugment.matrices(draws))[0]
    theirs = TF.affine(
        image[0], angle=angle, translate=[0, 0], scale=scale, shear=[math.degrees(shear), 0.0],
        interpolation=InterpolationMode.BILINEAR, fill=0,
    )  # fmt: skip
    assert torch.allclose(ours[:, 8:56, 8:56], theirs[:, 8:56, 8:56], atol=1e-4)


def test_flip_mirrors_and_identity_keeps() -> None:
    image = torch.rand(2, 1, 16, 16)
    draws = AffineDraws(torch.zeros(2), torch.zeros(2), torch.ones(2), torch.tensor([False, True]))
    out = warp(image, BatchAugment.matrices(draws))
    assert torch.allclose(out[0], image[0], atol=1e-5)
    assert torch.allclose(out[1], image[1].flip(-1), atol=1e-5)


def test_same_seed_same_batch_and_each_sample_its_own_draw() -> None:
    augment = BatchAugment()
    images = torch.rand(1, 1, 32, 32).repeat(8, 1, 1, 1)
    first = augment(images.clone(), torch.Generator().manual_seed(5))
    again = augment(images.clone(), torch.Generator().manual_seed(5))
    other = augment(images.clone(), torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert len({tuple(image.flatten()[:64].tolist()) for image in first}) == 8, "every sample is warped differently"
    assert augment(images[:0], torch.Generator()).shape == (0, 1, 32, 32)


def test_sampling_grid_is_affine_grid() -> None:
    theta = BatchAugment(flip=True).matrices(BatchAugment(flip=True).draw(5, torch.Generator().manual_seed(3)))
    theta[:, :, 2] = torch.rand(5, 2) - 0.5  # a translation too
    expected = torch.nn.functional.affine_grid(theta, [5, 1, 24, 40], align_corners=False)
    assert torch.allclose(sampling_grid(theta, 24, 40), expected, atol=1e-6)


def test_a_batch_warped_in_place_in_chunks_equals_one_warp() -> None:
    images = torch.rand(CPU_CHUNK * 2 + 3, 1, 32, 32)
    augment = BatchAugment(flip=True)
    theta = augment.matrices(augment.draw(len(images), torch.Generator().manual_seed(4)))
    expected = warp(images, theta)
    batch = images.clone()
    warped = augment(batch, torch.Generator().manual_seed(4))
    assert warped is batch, "the batch is warped in place"
    assert torch.equal(warped, expected)


def test_a_uint8_batch_is_scaled_as_it_is_warped_and_equals_scaling_first() -> None:
    images = torch.randint(0, 256, (CPU_CHUNK * 2 + 3, 1, 32, 32), dtype=torch.uint8)
    augment = BatchAugment(flip=True)
    scaled_first = augment(images.float().div_(255.0), torch.Generator().manual_seed(4))
    warped = augment(images, torch.Generator().manual_seed(4))
    assert warped.dtype == torch.float32 and images.dtype == torch.uint8, "a new float batch; the uint8 one is kept"
    assert torch.equal(warped, scaled_first)
    assert augment(images[:0], torch.Generator()).dtype == torch.float32


def test_an_integer_batch_other_than_uint8_is_refused() -> None:
    with pytest.raises(TypeError, match=r"augmentation takes uint8 or float batches, not torch\.int16"):
        BatchAugment()(torch.zeros(2, 1, 8, 8, dtype=torch.int16), torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_uint8_batch_on_the_gpu_equals_scaling_first() -> None:
    images = torch.randint(0, 256, (40, 1, 32, 32), dtype=torch.uint8, device="cuda")
    augment = BatchAugment(flip=True)
    scaled_first = augment(images.float().div_(255.0), torch.Generator(device="cuda").manual_seed(4))
    assert torch.equal(augment(images, torch.Generator(device="cuda").manual_seed(4)), scaled_first)
