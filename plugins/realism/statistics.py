"""Simple statistics of grayscale crops, for comparing the phantom with real radiographs.

Each function takes one crop as a float array in [0, 1] (or a stack of them) and measures one
thing a reader sees at a glance: how bright, how smooth, how sharp, how much bone, how tilted.
`features` puts them in one vector per crop for the two-sample test's linear model.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FEATURE_NAMES = (
    "mean intensity",
    "intensity sd",
    "intensity p5",
    "intensity p50",
    "intensity p95",
    "spectrum slope",
    "mean gradient",
    "gradient p90 / mean",
    "bone fraction",
    "axis angle (abs)",
    "anisotropy",
)


def spectrum_slope(image: np.ndarray) -> float:
    """Slope of the radially averaged power spectrum on log-log axes (about -2 for natural images).

    The crop is mean-removed and Hann-windowed; the fit spans 4 cycles per crop up to a quarter of
    the sampling rate, above the crop's own shape and below noise and JPEG blocks.
    """
    size = image.shape[0]
    window = np.outer(np.hanning(size), np.hanning(image.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2((image - image.mean()) * window))) ** 2
    y, x = np.indices(power.shape)
    radius = np.hypot(y - size // 2, x - image.shape[1] // 2).astype(int)
    totals = np.bincount(radius.ravel(), power.ravel())
    counts = np.bincount(radius.ravel())
    frequencies = np.arange(4, size // 4 + 1)
    radial = totals[frequencies] / counts[frequencies]
    slope = np.polyfit(np.log(frequencies), np.log(radial + 1e-12), 1)[0]
    return float(slope)


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude per pixel (intensity units per pixel)."""
    gx = ndimage.sobel(image, axis=1) / 8.0
    gy = ndimage.sobel(image, axis=0) / 8.0
    magnitude: np.ndarray = np.hypot(gx, gy)
    return magnitude


def otsu_threshold(image: np.ndarray) -> float:
    """Otsu's threshold on a 256-bin histogram: the split that maximises the between-class variance."""
    counts, edges = np.histogram(image, bins=256, range=(float(image.min()), float(image.max())))
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight_low = np.cumsum(counts)[:-1]
    weight_high = counts.sum() - weight_low
    mass = np.cumsum(counts * centres)[:-1]
    mean_low = mass / np.maximum(weight_low, 1)
    mean_high = (mass[-1] + counts[-1] * centres[-1] - mass) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[1:-1][np.argmax(between)])


def bone_fraction(image: np.ndarray) -> float:
    """Share of the crop brighter than its Otsu threshold: the bone's area in an X-ray negative."""
    if float(image.max()) == float(image.min()):
        return 0.0
    return float(np.mean(image > otsu_threshold(image)))


def axis_angle(image: np.ndarray) -> tuple[float, float]:
    """The finger axis's deviation from vertical in degrees (-90, 90], and how clearly it has one.

    From the image's structure tensor: the dominant gradient direction is across the finger's
    edges, so its angle from the x axis is the axis's angle from vertical. Anisotropy in [0, 1]
    is 0 for a crop without a preferred direction.
    """
    gx = ndimage.sobel(image, axis=1)
    gy = ndimage.sobel(image, axis=0)
    jxx, jyy, jxy = float(np.sum(gx * gx)), float(np.sum(gy * gy)), float(np.sum(gx * gy))
    angle = 0.5 * np.degrees(np.arctan2(2.0 * jxy, jxx - jyy))
    trace = jxx + jyy
    anisotropy = float(np.hypot(jxx - jyy, 2.0 * jxy) / trace) if trace > 0 else 0.0
    return float(angle), anisotropy


def features(image: np.ndarray) -> np.ndarray:
    """One crop's statistics in the order of `FEATURE_NAMES`."""
    gradient = gradient_magnitude(image)
    mean_gradient = float(gradient.mean())
    angle, anisotropy = axis_angle(image)
    p5, p50, p95 = np.percentile(image, [5, 50, 95])
    return np.array(
        [
            float(image.mean()),
            float(image.std()),
            p5,
            p50,
            p95,
            spectrum_slope(image),
            mean_gradient,
            float(np.percentile(gradient, 90)) / (mean_gradient + 1e-6),
            bone_fraction(image),
            abs(angle),
            anisotropy,
        ],
        dtype=np.float64,
    )
