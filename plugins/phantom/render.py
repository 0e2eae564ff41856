"""Render one synthetic finger-joint radiograph crop.

Geometry lives in a joint frame: `u` across the finger, `v` along it (towards the distal bone),
the joint space at `v = 0`, the crop spanning [-1, 1] before rotation, scale and shift. The
image is flipped at the end so that, as in a hand radiograph, the finger points up: the
proximal bone's head below, the distal bone's base above. Shapes are signed distance fields, so
pose moves the sampling grid instead of resampling an image.

Intensities are projections, as an X-ray forms them: each bone is a tube whose cortical shell
and marrow cavity add up along the beam, so shafts show bright cortical walls and a darker
medulla while the heads are thin-shelled and trabecular; soft tissue is a tube too. The summed
attenuation goes through a film's exposure curve (`1 - exp(-k A)`) with a heel effect across
the crop, then blur, gain, gamma and noise.

Speed: the shape helpers compute in place (each docstring gives its formula), and the bones'
density and the confounders inside them are computed only on the pixels inside the bones (outside
them the bones' attenuation is 0). Both give exactly the pixels of the plain expressions.

Every parameter is in `RenderParams` (docs/data.md explains each). They were set by looking at
anatomy and at the thesis's reference crops; they are never fitted to the real crops that
`zoo data realism` measures the phantom against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

THUMB = ("mcp1", "pip1")
IMAGE_PATTERN = "{sop_iuid}_{joint}.jpg"
TEXTURES = 16


@dataclass(frozen=True)
class JointCrop:
    """Everything about the patient's joint that decides how one crop looks."""

    joint: str  # "mcp1".."mcp5", "pip1".."pip5"
    percent: float  # true eroded percentage of the joint surface
    activity: float  # disease activity in [0, 1]; drives periarticular osteopenia
    bone_scale: float  # the patient's bone size
    jsn: int = 0  # Sharp/van der Heijde joint-space narrowing grade 0-4


@dataclass(frozen=True)
class RenderParams:
    """The renderer's parameters: what varies from crop to crop, and by how much."""

    tilt_sd: float = 12.0  # degrees: the finger axis's tilt (fingers 2-5)
    thumb_tilt: float = 28.0  # degrees: the thumb's mean outward tilt
    thumb_tilt_sd: float = 14.0  # degrees
    curvature_sd: float = 0.07  # bend of the finger axis (1/crop half-widths)
    deviation_sd: float = 6.0  # degrees between the two bones at the joint (flexion, ulnar drift)
    joint_space_sd: float = 0.25  # log-sd of a healthy joint space's width (people, flexion, projection)
    shift_sd: float = 0.08  # the joint's offset from the crop centre (crop half-widths)
    scale_jitter: float = 0.1  # detector and crop-size spread around the patient's bone size
    mirror_share: float = 0.5  # right hands (mirrored)
    neighbour_share: float = 0.6  # per side: a neighbouring finger in view
    young_share: float = 0.3  # open growth plates (young patients)
    erosion_min_half: float = 0.12  # the smallest erosion's half-width (joint half-widths): 1-1.5 mm across
    erosion_depth: float = 0.06  # depth every erosion has beyond its width's share (joint half-widths)
    cyst_share: float = 0.1  # a subchondral cyst (not an erosion: the cortex is intact)
    osteophyte_share: float = 0.08  # a marginal osteophyte
    channel_share: float = 0.2  # a nutrient (vascular) channel through a shaft
    sesamoid_share: float = 0.8  # the thumb's MP joint: sesamoid bones over the head
    soft_tissue: float = 0.35  # attenuation of a finger's full soft-tissue thickness
    cortex: float = 1.0  # attenuation of a full cortical wall
    marrow: float = 0.22  # attenuation of trabecular bone across a full bone
    texture: float = 0.25  # trabecular texture contrast (share of the marrow's attenuation)
    exposure: tuple[float, float] = (0.9, 1.4)  # film speed k of 1 - exp(-k A)
    heel: float = 0.15  # largest exposure change across the crop (heel effect, uneven exposure)
    blur_px: tuple[float, float] = (0.3, 0.9)  # detector blur sigma, pixels at 64 px
    noise: tuple[float, float] = (0.003, 0.012)  # detector noise sd
    border_share: float = 0.12  # the crop runs past the radiograph's edge (black band)
    # The joint space left at each JSN grade (share of the healthy width, before the floor every
    # open joint has): 0 normal, 1 focal (one side of the joint narrowed), 2 generalised with less
    # than half lost, 3 more than half lost, 4 ankylosis (none left: the bones fused).
    jsn_width: tuple[tuple[float, float], ...] = ((1.0, 1.0), (0.7, 0.85), (0.5, 0.65), (0.1, 0.3), (0.0, 0.0))
    focal_tilt: float = 8.0  # degrees the bones close on one side at grade 1 (focal narrowing)
    subluxation_share: float = 0.3  # grade 3 by subluxation: the distal bone shifted sideways
    subluxation: float = 0.3  # its shift (head half-widths)


DEFAULTS = RenderParams()


def texture_bank(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Trabecular textures: band-passed noise streaked along the bone axis, unit variance."""
    noise = rng.standard_normal((count, size, size)).astype(np.float32)
    fine = ndimage.gaussian_filter(noise, sigma=(0, 2.0, 0.7))
    coarse = ndimage.gaussian_filter(noise, sigma=(0, 6.0, 3.0))
    bank: np.ndarray = fine - 0.6 * coarse
    bank /= bank.std(axis=(1, 2), keepdims=True)
    return bank


def _ellipse_sdf(u: np.ndarray, v: np.ndarray, rx: float, ry: float) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse centred at the origin:
    `(k - 1) / |grad k|` with `k = sqrt((u / rx)^2 + (v / ry)^2)`, computed in place."""
    k = u / rx
    k *= k
    t = v / ry
    t *= t
    k += t
    np.sqrt(k, out=k)
    k += 1e-6
    gx = rx * rx * k  # then u / (rx^2 k), squared, plus the same for v: |grad k|^2
    np.divide(u, gx, out=gx)
    gx *= gx
    gy = ry * ry * k
    np.divide(v, gy, out=gy)
    gy *= gy
    gx += gy
    np.sqrt(gx, out=gx)
    gx += 1e-6
    k -= 1.0
    k /= gx
    return k


def _clamp(x: np.ndarray, low: float, high: float | np.ndarray | np.float32) -> np.ndarray:
    """`np.clip` without its Python-level dispatch (this runs dozens of times per crop)."""
    clamped: np.ndarray = np.minimum(np.maximum(x, low), high)
    return clamped


def _clamp_in_place(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """`_clamp` into `x` itself."""
    np.maximum(x, low, out=x)
    clamped: np.ndarray = np.minimum(x, high, out=x)
    return clamped


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """The union of two shapes with a rounded seam of width `k`: with `h = clamp(0.5 + 0.5 (b - a) / k)`,
    `b (1 - h) + a h - k h (1 - h)`, computed in place."""
    h = b - a
    h *= 0.5
    h /= k
    h += 0.5
    _clamp_in_place(h, 0.0, 1.0)
    rest = 1.0 - h
    out: np.ndarray = b * rest
    out += a * h
    h *= k
    h *= rest
    out -= h
    return out


def _fill(d: np.ndarray, pixel: float) -> np.ndarray:
    """Anti-aliased inside mask of a signed distance field: `clamp(0.5 - d / pixel, 0, 1)`."""
    f = d / pixel
    np.subtract(0.5, f, out=f)
    return _clamp_in_place(f, 0.0, 1.0)


def _chord(depth: np.ndarray, radius: np.ndarray | np.float32 | float) -> np.ndarray:
    """Path length through a tube of `radius` at `depth` inside its edge, as a share of its diameter:
    `sqrt(s (2 radius - s)) / radius` with `s = clamp(depth, 0, radius)`."""
    s = _clamp(depth, 0.0, radius)
    t: np.ndarray = 2.0 * radius - s
    t *= s
    np.sqrt(t, out=t)
    t /= radius
    return t


def _tube(
    d: np.ndarray, radius: np.ndarray | np.float32, wall: np.ndarray | np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Cortical and marrow path lengths through a bone with signed distance `d`, local radius and wall."""
    depth = -d
    outer = _chord(depth, radius)
    inner_radius = radius - wall
    inner = _chord(depth - wall, inner_radius) * (inner_radius / radius)
    return outer - inner, inner


def _sign(rng: np.random.Generator) -> float:
    """-1 or 1 with equal chance (the draw of `rng.choice([-1.0, 1.0])`, without its overhead)."""
    return (-1.0, 1.0)[int(rng.integers(0, 2))]


def _erosions(
    rng: np.random.Generator, percent: float, min_half: float, extra_depth: float
) -> list[tuple[int, float, float, float]]:
    """(bone, position in [-1, 1] along the surface, half-width, depth) of each erosion.

    Bone 0 is the proximal head, 1 the distal base; half-width and depth are fractions of the
    joint's half-width. The widths add up to the eroded share of both surfaces, each at least
    `min_half` wide on either side (what a radiograph shows as a break in the cortex); the first
    erosions sit at the margins (the bare areas), later ones move inwards. Past 60 % the
    surfaces turn ragged, and near 100 % they are destroyed.
    """
    if percent <= 0:
        return []
    share = percent / 100.0
    count = int(min(max(1 + share * 9 + rng.random(), 1), 10))
    total = share * 2.0 * 2.0  # both surfaces, each 2 position units long
    widths = rng.dirichlet(np.ones(count) * 2.0) * total
    spread = 0.1 + 0.9 * share  # how far from the margins erosions wander
    bites = []
    for width in widths:
        position = _sign(rng) * (0.9 - abs(rng.normal(0.0, spread)))
        half = max(width / 2.0, min_half)
        depth = half * rng.uniform(0.7, 1.3) + extra_depth
        bites.append((int(rng.integers(0, 2)), min(max(position, -1.0), 1.0), half, depth))
    if share > 0.6:  # ragged, then destroyed surfaces
        for bone in (0, 1):
            for position in np.linspace(-0.95, 0.95, 9):
                depth = (share - 0.5) * rng.uniform(0.2, 0.7)
                bites.append((bone, float(position + rng.normal(0, 0.04)), 0.16, depth))
    return [(bone, float(p), float(h), float(d)) for bone, p, h, d in bites]


def _near(offset: np.ndarray, reach: float) -> np.ndarray:
    """1 at `offset` 0 (a bone's joint end), falling to 0 along its shaft (`reach` crop half-widths)."""
    e = np.abs(offset)
    e *= -1.0 / reach
    near: np.ndarray = np.exp(e, out=e)
    return near


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres of a `size`-pixel crop in [-1, 1] (y down, x right), shared by every crop."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) * (2.0 / size) - 1.0
    y, x = np.meshgrid(axis, axis, indexing="ij")
    y.flags.writeable = x.flags.writeable = False
    return y, x


def render(
    crop: JointCrop, size: int, rng: np.random.Generator, textures: np.ndarray, params: RenderParams = DEFAULTS
) -> np.ndarray:
    """Render one crop as a `size x size` uint8 grayscale array."""
    p = params
    mcp = crop.joint.startswith("mcp")
    thumb = crop.joint in THUMB
    pixel = 2.0 / size

    # Pose: tilt (the thumb leans outwards), scale, shift, mirroring (right hands), bend.
    # Scalars are Python floats so that the float32 grids stay float32.
    mirror = -1.0 if rng.random() < p.mirror_share else 1.0
    mean_tilt, tilt_sd = (p.thumb_tilt, p.thumb_tilt_sd) if thumb else (0.0, p.tilt_sd)
    angle = math.radians(min(max(rng.normal(mean_tilt, tilt_sd), -60.0), 60.0))
    scale = float(crop.bone_scale * rng.uniform(1.0 - p.scale_jitter, 1.0 + p.scale_jitter))
    shift_u, shift_v = (float(s) for s in rng.normal(0.0, p.shift_sd, 2))
    bend = float(rng.normal(0.0, p.curvature_sd))
    y, x = _grid(size)
    x, y = x - shift_u, y - shift_v
    cos, sin = math.cos(angle), math.sin(angle)
    u = (cos * x + sin * y) / scale * mirror
    v = (-sin * x + cos * y) / scale
    u = u - bend * v * v

    # Joint-specific anatomy: (head rx, head ry, shaft, base rx, base shaft, base ry, gap).
    if crop.joint == "mcp1":  # the thumb's MP: a smaller, flatter metacarpal head
        rx, ry, shaft, base_rx, base_shaft, base_ry, space = 0.44, 0.34, 0.27, 0.46, 0.26, 0.45, 0.08
    elif mcp:  # MCP 2-5: a large round metacarpal head under a cupped phalanx base
        rx, ry, shaft, base_rx, base_shaft, base_ry, space = 0.48, 0.44, 0.27, 0.48, 0.27, 0.5, 0.09
    elif thumb:  # the thumb's IP: broad, short phalanges
        rx, ry, shaft, base_rx, base_shaft, base_ry, space = 0.44, 0.2, 0.29, 0.46, 0.28, 0.4, 0.07
    else:  # PIP 2-5: a flat proximal phalanx head with two condyles
        rx, ry, shaft, base_rx, base_shaft, base_ry, space = 0.38, 0.17, 0.25, 0.4, 0.24, 0.38, 0.065
    rx, ry = rx * float(rng.uniform(0.92, 1.08)), ry * float(rng.uniform(0.92, 1.08))
    # Joint-space narrowing draws from its own stream: the rest of the crop does not depend on it.
    narrowing = np.random.default_rng(int(rng.integers(2**62)))
    healthy = space * float(np.exp(rng.normal(0.0, p.joint_space_sd)))
    low, high = p.jsn_width[crop.jsn]
    left = float(narrowing.uniform(low, high))
    gap = healthy * left + 0.012 * (crop.jsn < 4)  # an ankylosed joint has no space at all

    # The distal bone may sit at an angle to the proximal one (flexion, ulnar drift); focal
    # narrowing closes one side more, subluxation shifts the distal bone sideways.
    focal = _sign(narrowing) * p.focal_tilt if crop.jsn == 1 else 0.0
    shifted = crop.jsn == 3 and narrowing.random() < p.subluxation_share
    sideways = _sign(narrowing) * p.subluxation * rx if shifted else 0.0
    deviation = math.radians(rng.normal(0.0, p.deviation_sd) + focal)
    dc, ds = math.cos(deviation), math.sin(deviation)
    ud = dc * u - ds * (v - gap / 2) - sideways
    vd = ds * u + dc * (v - gap / 2) + gap / 2

    # Bone outlines (signed distances, negative inside).
    head = _ellipse_sdf(u, v + ry, rx, ry)
    if not mcp:  # two condyles with a shallow notch between them
        head = np.maximum(head, -_ellipse_sdf(u, v - 0.012, 0.06, 0.04))
    proximal = _smooth_min(head, np.maximum(np.abs(u) - shaft, v + ry), 0.2)
    base_top = gap - 0.1  # the base reaches into the head's curve, then is cupped by it
    base = _ellipse_sdf(ud, vd - base_top - base_ry, base_rx, base_ry)
    distal = _smooth_min(base, np.maximum(np.abs(ud) - base_shaft, base_top + base_ry - vd), 0.2)
    distal = np.maximum(distal, gap - head)
    if rng.random() < p.osteophyte_share:  # a small spur at one margin of the head
        side = _sign(rng)
        spur = _ellipse_sdf(u - side * rx * 0.97, v + 0.06, 0.05, 0.035)
        proximal = np.minimum(proximal, spur)

    # Both bones in one pass: they never overlap, so each pixel belongs to the nearer one.
    # Outside them the bones' attenuation is 0, so from here to the confounders within the bones
    # (growth plates, cysts, nutrient channels) everything is computed on their pixels alone.
    distal_side = distal < proximal
    outline = np.where(distal_side, distal, proximal)
    # Flat indices and take/put: several times faster than boolean masks on arrays this size.
    inside = np.flatnonzero(outline / pixel < 0.5)  # where `_fill(outline, pixel)` is not 0
    outline, distal_side = outline.take(inside), distal_side.take(inside)
    bu, bv, bud, bvd = u.take(inside), v.take(inside), ud.take(inside), vd.take(inside)  # their coordinates

    # Trabecular texture, streaked along the bones (it also roughens the erosions' borders).
    tex_size = textures.shape[1]
    if tex_size & (tex_size - 1):
        raise ValueError(f"texture banks are square with a power-of-two side, not {tex_size}")
    index = int(rng.integers(0, textures.shape[0]))
    tu = (bu * (size / 2) + float(rng.integers(0, tex_size))).astype(np.int32) & (tex_size - 1)  # modulo
    tv = (bv * (size / 2) + float(rng.integers(0, tex_size))).astype(np.int32) & (tex_size - 1)
    texture = textures[index].take(tv * tex_size + tu)
    # Erosions: bites centred on the articular surfaces, half inside the bone, with borders
    # made irregular by the texture.
    kept = None  # no erosion; else 0 where an erosion took the bone away
    erosion_rng = np.random.default_rng(int(rng.integers(2**62)))  # the rest of the crop does not depend on it
    for bone, position, half, depth in _erosions(erosion_rng, crop.percent, p.erosion_min_half, p.erosion_depth):
        pu = position * rx * 0.95
        surface = -ry + ry * math.sqrt(max(0.0, 1.0 - (pu / rx) ** 2))
        pv = surface - 0.3 * depth * rx if bone == 0 else surface + gap + 0.3 * depth * rx
        du, dv = (bu - pu, bv - pv) if bone == 0 else (bud - pu, bvd - pv)
        bite = _ellipse_sdf(du, dv, half * rx, depth * rx) + (0.12 * half * rx) * texture
        keep = 1.0 - _fill(bite, pixel * 1.5)
        kept = keep if kept is None else np.minimum(kept, keep, out=kept)

    # Bone: cortical walls thick along the shafts, thin at the joint ends; marrow with texture.
    osteopenia = 1.0 - 0.3 * crop.activity * np.exp(-np.abs(bv) / 0.35)
    young = rng.random() < p.young_share
    end = _near(np.where(distal_side, bvd - (gap + base_ry), bv + ry), 0.3)
    end_radius = np.where(distal_side, np.float32(base_rx), np.float32(rx))
    shaft_radius = np.where(distal_side, np.float32(base_shaft), np.float32(shaft))
    radius = shaft_radius + (end_radius - shaft_radius) * end
    cortical, marrow = _tube(outline, radius, radius * (0.3 - 0.22 * end))
    density = p.marrow * (1.0 + p.texture * texture) * marrow * osteopenia + p.cortex * cortical
    subchondral = 0.5 * np.exp(np.minimum(outline, 0.0) / 0.025) * end  # the subchondral plates
    bone_attenuation = (density + subchondral) * _fill(outline, pixel)
    if kept is not None:
        bone_attenuation *= kept

    if young:  # open growth plates: a lucent line across the phalanx base (and metacarpal head)
        lines = [(bvd, gap + 0.17)] + ([(bv, -0.22)] if mcp and not thumb else [])
        for along, at in lines:
            bone_attenuation *= 1.0 - 0.55 * np.exp(-(((along - at) / 0.024) ** 2))
    if rng.random() < p.cyst_share:  # a round lucency under an intact cortex
        cu, cv = float(rng.uniform(-0.5, 0.5)) * rx, _sign(rng) * float(rng.uniform(0.08, 0.16))
        cyst = _ellipse_sdf(bu - cu, bv - cv, *(float(r) for r in rng.uniform(0.025, 0.05, 2)))
        bone_attenuation *= 1.0 - 0.45 * _fill(cyst, pixel * 2)
    if rng.random() < p.channel_share:  # a thin oblique lucent line through a shaft's cortex
        at, slope = _sign(rng) * float(rng.uniform(0.5, 0.8)), float(rng.uniform(-0.6, 0.6))
        bone_attenuation *= 1.0 - 0.3 * np.exp(-(((bu - slope * (bv - at)) / 0.012) ** 2)) * _near(bv - at, 0.12)
    attenuation = np.zeros(u.shape, dtype=bone_attenuation.dtype)
    np.put(attenuation, inside, bone_attenuation)

    if crop.joint == "mcp1" and rng.random() < p.sesamoid_share:  # sesamoids over the thumb's MP head
        for side in (-1.0, 1.0):
            sesamoid = _ellipse_sdf(u - side * rx * 0.55, v + 0.12, 0.07, 0.06)
            cortical, marrow = _tube(sesamoid, np.float32(0.065), np.float32(0.015))
            attenuation += (p.cortex * cortical + p.marrow * marrow) * _fill(sesamoid, pixel)

    # Soft tissue: the finger (MCP: the palm), and neighbouring fingers with their bones.
    finger = (rx + 0.3) * (1.0 + 0.05 * np.sin(2.3 * v + crop.bone_scale))
    tissue = _chord(finger - np.abs(u), finger)
    if mcp and not thumb:
        tissue = np.maximum(tissue, 0.75)  # the palm covers the metacarpal heads
    for side in (-1.0, 1.0):
        if rng.random() < p.neighbour_share:
            centre = side * float(rng.uniform(1.55, 2.1))
            width = float(rng.uniform(0.55, 0.75))
            # Only the pixels under the neighbour's soft tissue change: its bone (at most
            # 1.1 x 0.29 from its axis) lies within the tissue's half-width (at least 0.55).
            off_axis = np.abs(u - centre)
            band = np.flatnonzero(off_axis < width)
            across = off_axis.take(band)
            np.put(tissue, band, np.maximum(tissue.take(band), _chord(width - across, width)))
            tube = across - shaft * 1.1
            cortical, marrow = _tube(tube, np.float32(shaft * 1.1), np.float32(shaft * 0.3))
            bone = (p.cortex * cortical + p.marrow * marrow) * _fill(tube, pixel)
            np.put(attenuation, band, attenuation.take(band) + bone)
    attenuation += p.soft_tissue * tissue
    image = np.flipud(attenuation)  # fingers point up, as in a hand radiograph

    # Acquisition: blur, heel effect, exposure curve, gain and gamma, noise, borders.
    image = ndimage.gaussian_filter(image, sigma=float(rng.uniform(*p.blur_px)) * size / 64.0)
    heading = float(rng.uniform(0.0, 2 * math.pi))
    heel = 1.0 + float(rng.uniform(-p.heel, p.heel)) * (math.cos(heading) * x + math.sin(heading) * y)
    image = 1.0 - np.exp(-float(rng.uniform(*p.exposure)) * heel * image)
    gamma = float(np.exp(rng.normal(0.0, 0.2)))
    image = float(rng.uniform(0.0, 0.06)) + float(rng.uniform(0.6, 0.95)) * image**gamma
    image += float(rng.uniform(*p.noise)) * rng.standard_normal(image.shape, dtype=np.float32)
    if rng.random() < p.border_share:  # the crop runs past the radiograph's edge
        width = int(rng.uniform(0.05, 0.25) * size)
        edge = int(rng.integers(0, 4))
        strip = (slice(None), slice(0, width)) if edge == 0 else (slice(None), slice(size - width, None))
        if edge >= 2:
            strip = (slice(0, width), slice(None)) if edge == 2 else (slice(size - width, None), slice(None))
        image[strip] = 0.0
    return (_clamp(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@lru_cache(maxsize=2)
def _textures(seed: int) -> np.ndarray:
    """The phantom's texture bank, made once per worker process (it depends on the seed only)."""
    return texture_bank(np.random.default_rng([seed, 2]), TEXTURES, 256)


def render_chunk(
    job: tuple[int, int, list[tuple[int, str, str, float, float, float, int]], str],
) -> None:
    """Render and save one chunk of crops (runs in a worker process, which imports only this module)."""
    seed, size, crops, folder = job
    textures = _textures(seed)
    for index, sop_iuid, joint, percent, activity, bone_scale, jsn in crops:
        rng = np.random.default_rng([seed, 3, index])
        pixels = render(JointCrop(joint, percent, activity, bone_scale, jsn), size, rng, textures)
        quality = int(rng.integers(70, 96))
        path = Path(folder) / IMAGE_PATTERN.format(sop_iuid=sop_iuid, joint=joint)
        Image.fromarray(pixels).save(path, format="JPEG", quality=quality)
