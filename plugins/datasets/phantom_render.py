"""Render one synthetic finger-joint radiograph crop.

Geometry lives in a joint frame: `u` across the finger, `v` along it (down, towards the distal
bone), the joint space at `v = 0`, the crop spanning [-1, 1] before rotation, scale and shift.
Shapes are signed distance fields, so rotation, scale and shift move the sampling grid instead of
resampling an image. Intensities follow an X-ray negative: bone bright, soft tissue grey, air dark.

What is drawn (docs/data.md shows examples beside real crops):
- the proximal bone's head above (MCP: large and round; PIP: flatter, two condyles), the distal
  bone's base below with a cupped surface, a dark joint space between, shafts leaving the crop;
- a bright cortical rim, a subchondral plate, trabecular texture streaked along the bone;
- soft tissue around the finger, neighbouring fingers at the sides, dark background;
- erosions: dark bites that break the cortical line at the articular surfaces, marginal first,
  more and larger with the eroded percentage, the surfaces destroyed near 100 %; joint-space
  narrowing with damage; periarticular osteopenia with disease activity;
- nuisance: exposure, noise, blur, rotation, shift, scale, mirroring, black borders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BACKGROUND = 0.04  # air
SOFT_TISSUE = 0.30  # added by the finger's soft tissue
BONE = 0.2  # added by bone
CORTEX = 0.2  # added by the cortical rim and the subchondral plate


@dataclass(frozen=True)
class JointCrop:
    """Everything that decides how one crop looks."""

    joint: str  # "mcp1".."mcp5", "pip1".."pip5"
    percent: float  # true eroded percentage of the joint surface
    activity: float  # disease activity in [0, 1]; drives periarticular osteopenia
    bone_scale: float  # the patient's bone size


def texture_bank(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Trabecular textures: band-passed noise streaked along the bone axis, unit variance."""
    noise = rng.standard_normal((count, size, size)).astype(np.float32)
    fine = ndimage.gaussian_filter(noise, sigma=(0, 2.0, 0.55))
    coarse = ndimage.gaussian_filter(noise, sigma=(0, 6.0, 3.0))
    bank = fine - 0.6 * coarse
    bank /= bank.std(axis=(1, 2), keepdims=True)
    return bank


def _ellipse_sdf(u: np.ndarray, v: np.ndarray, rx: float, ry: float) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse centred at the origin."""
    k = np.sqrt((u / rx) ** 2 + (v / ry) ** 2) + 1e-6
    gx, gy = u / (rx * rx * k), v / (ry * ry * k)
    return (k - 1.0) / (np.sqrt(gx * gx + gy * gy) + 1e-6)


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _fill(d: np.ndarray, pixel: float) -> np.ndarray:
    """Anti-aliased inside mask of a signed distance field."""
    return np.clip(0.5 - d / pixel, 0.0, 1.0)


def _erosions(rng: np.random.Generator, percent: float) -> list[tuple[int, float, float, float]]:
    """(bone, position in [-1, 1] along the surface, half-width, depth) of each erosion.

    Bone 0 is the proximal head, 1 the distal base; half-width and depth are fractions of the
    joint's half-width. The widths add up to the eroded share of both surfaces; the first
    erosions sit at the margins (the bare areas), later ones move inwards. Past 60 % the
    surfaces turn ragged, and near 100 % they are destroyed.
    """
    if percent <= 0:
        return []
    share = percent / 100.0
    count = int(np.clip(1 + share * 9 + rng.random(), 1, 10))
    total = share * 2.0 * 2.0  # both surfaces, each 2 position units long
    widths = rng.dirichlet(np.ones(count) * 2.0) * total
    spread = 0.1 + 0.9 * share  # how far from the margins erosions wander
    bites = []
    for width in widths:
        position = rng.choice([-1.0, 1.0]) * (0.9 - abs(rng.normal(0.0, spread)))
        half = max(width / 2.0, 0.07)
        depth = half * rng.uniform(0.7, 1.3) + 0.04
        bites.append((int(rng.integers(0, 2)), float(np.clip(position, -1.0, 1.0)), half, depth))
    if share > 0.6:  # ragged, then destroyed surfaces
        for bone in (0, 1):
            for position in np.linspace(-0.95, 0.95, 9):
                depth = (share - 0.5) * rng.uniform(0.2, 0.7)
                bites.append((bone, float(position + rng.normal(0, 0.04)), 0.16, depth))
    return [(bone, float(p), float(h), float(d)) for bone, p, h, d in bites]


def render(crop: JointCrop, size: int, rng: np.random.Generator, textures: np.ndarray) -> np.ndarray:
    """Render one crop as a `size x size` uint8 grayscale array."""
    mcp = crop.joint.startswith("mcp")
    share = crop.percent / 100.0
    pixel = 2.0 / size

    # Pose of the joint in the crop: rotation, scale (patient and detector), shift, mirroring.
    # Scalars are Python floats so that the float32 grids stay float32.
    angle = float(np.deg2rad(np.clip(rng.normal(0.0, 11.0), -32.0, 32.0)))
    scale = float(crop.bone_scale * rng.uniform(0.9, 1.1))
    shift_u, shift_v = (float(s) for s in rng.normal(0.0, 0.09, 2))
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    axis = (np.arange(size, dtype=np.float32) + 0.5) * pixel - 1.0
    y, x = np.meshgrid(axis, axis, indexing="ij")
    x, y = x - shift_u, y - shift_v
    cos, sin = math.cos(angle), math.sin(angle)
    u = (cos * x + sin * y) / scale * mirror
    v = (-sin * x + cos * y) / scale

    # Bone outlines (signed distances, negative inside).
    if mcp:
        rx, ry, shaft, base_rx, base_shaft = 0.52, 0.46, 0.31, 0.54, 0.33
    else:
        rx, ry, shaft, base_rx, base_shaft = 0.44, 0.26, 0.23, 0.46, 0.25
    gap = (0.09 if mcp else 0.075) * (1.0 - 0.6 * share) + 0.012
    head = _ellipse_sdf(u, v + ry, rx, ry)
    if not mcp:  # two condyles with a shallow notch between them
        head = np.maximum(head, -_ellipse_sdf(u, v - 0.012, 0.07, 0.045))
    shaft_up = np.maximum(np.abs(u) - shaft, v + ry)
    proximal = _smooth_min(head, shaft_up, 0.2)
    base_ry = 0.36 if mcp else 0.3
    base_top = gap - 0.14  # the base reaches into the head's curve, then is cupped by it
    base = _ellipse_sdf(u, v - base_top - base_ry, base_rx, base_ry)
    shaft_down = np.maximum(np.abs(u) - base_shaft, base_top + base_ry - v)
    distal = np.maximum(_smooth_min(base, shaft_down, 0.2), gap - head)

    # Erosions: bites centred on the articular surfaces, half inside the bone.
    bitten = np.zeros_like(u)
    for bone, position, half, depth in _erosions(rng, crop.percent):
        pu = position * rx * 0.95
        surface = -ry + ry * math.sqrt(max(0.0, 1.0 - (pu / rx) ** 2))
        pv = surface - 0.3 * depth * rx if bone == 0 else surface + gap + 0.3 * depth * rx
        bite = _ellipse_sdf(u - pu, v - pv, half * rx, depth * rx)
        bitten = np.maximum(bitten, _fill(bite, pixel * 1.5))

    # Intensities.
    finger = (0.95 if mcp else 0.72) + 0.05 * np.sin(2.3 * v + crop.bone_scale)
    tissue = SOFT_TISSUE * _fill(np.abs(u) - finger, pixel * 4)
    for side in (-1.0, 1.0):  # neighbouring fingers at the sides
        if rng.random() < 0.55:
            centre = side * float(rng.uniform(1.6, 2.0))
            tissue = np.maximum(tissue, SOFT_TISSUE * _fill(np.abs(u - centre) - 0.65, pixel * 4))
            tissue += BONE * _fill(np.abs(u - centre) - 0.27, pixel * 2)

    index = int(rng.integers(0, textures.shape[0]))
    tex_size = textures.shape[1]
    tu = ((u * 0.5 + 0.5) * size + rng.integers(0, tex_size)).astype(np.int32)
    tv = ((v * 0.5 + 0.5) * size + rng.integers(0, tex_size)).astype(np.int32)
    texture = textures[index, tv % tex_size, tu % tex_size]

    osteopenia = 1.0 - 0.25 * crop.activity * np.exp(-np.abs(v) / 0.35)
    image = BACKGROUND + tissue
    for outline in (proximal, distal):
        inside = _fill(outline, pixel) * (1.0 - bitten)
        rim = np.exp(np.minimum(outline, 0.0) / 0.035)
        bone = (BONE + 0.04 * texture) * osteopenia + CORTEX * rim
        image = image + bone * inside

    # Acquisition: blur, exposure, noise, borders.
    image = ndimage.gaussian_filter(image, sigma=float(rng.uniform(0.4, 1.3)))
    gamma = float(np.exp(rng.normal(0.0, 0.28)))
    gain = float(rng.uniform(0.7, 1.15))
    image = float(rng.uniform(0.0, 0.08)) + gain * np.clip(image, 0.0, 1.0) ** gamma
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    image += float(rng.uniform(0.006, 0.03)) * noise
    if rng.random() < 0.12:  # the crop runs past the radiograph's edge
        width = int(rng.uniform(0.05, 0.25) * size)
        edge = int(rng.integers(0, 4))
        band = (slice(None), slice(0, width)) if edge == 0 else (slice(None), slice(size - width, None))
        if edge >= 2:
            band = (slice(0, width), slice(None)) if edge == 2 else (slice(size - width, None), slice(None))
        image[band] = 0.0
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
