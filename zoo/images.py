"""Decode any radiograph file into an 8-bit grayscale square of the model's size; find image files.

One function, used for training, checking and prediction alike, so a model always sees its
inputs prepared the same way:
- 16-bit and 32-bit grayscale are scaled linearly from the image's own minimum..maximum to 0..255;
  colour images are converted to luminance;
- non-square images are padded with black to a square (keeping the aspect ratio), then resized;
- `equalize`: `none`; `linear` (the thesis's stretch: darkest pixel to 0, lightest to 255);
  `histogram` (histogram equalisation).

Hostile files are refused one by one (`UnreadableImage`, a reason each), never read without
bound: a path that is not a regular file (a folder, a pipe that would block, a device such as
/dev/zero that never ends), a name the system cannot take, an image whose padded square would
exceed `MAX_PIXELS` (a few-kB PNG of 2,000,000 x 1 pixels would ask for terabytes), and float
pixels that are not numbers.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

Equalize = Literal["none", "linear", "histogram"]
DICOM_SUFFIX = ".dcm"  # read with pydicom, where it is installed (erosion-zoo[dicom])
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", DICOM_SUFFIX}
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # of the padded square: Pillow's own bomb limit


class UnreadableImage(Exception):
    """The file is missing, not an image, or truncated; the message says which."""


def check_file(path: str | Path) -> None:
    """Refuse, with its reason, a path that is not a regular file (missing, a broken link, a folder,
    a pipe, a device, a name with a NUL byte), before anything opens it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UnreadableImage("broken link" if os.path.islink(path) else "missing file") from None
    except (OSError, ValueError):  # a symlink loop, a name too long, a NUL byte in the name
        raise UnreadableImage("not a valid file name") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableImage("not a regular file (a folder, a pipe or a device)")


def load_gray(path: str | Path) -> Image.Image:
    """Open an image file as 8-bit grayscale ("L"); raise `UnreadableImage` on any failure."""
    check_file(path)
    if Path(path).suffix.lower() == DICOM_SUFFIX:
        return load_dicom(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max(width, height) ** 2 > MAX_PIXELS:  # the square it is padded to, before decoding it
                raise UnreadableImage(f"image too large ({width} x {height} pixels)")
            image.load()  # a truncated file fails here, not later
            return to_gray(image)
    except FileNotFoundError:  # gone since it was checked
        raise UnreadableImage("missing file") from None
    except Image.DecompressionBombError:
        raise UnreadableImage("image too large") from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated image" if "truncated" in str(exc) else "not a readable image"
        raise UnreadableImage(reason) from None


def load_dicom(path: str | Path) -> Image.Image:
    """A DICOM file's pixels as 8-bit grayscale: modality rescale applied, MONOCHROME1 inverted
    (so bone is bright, as in every other format), then scaled like a 16-bit image."""
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError:
        raise UnreadableImage("a DICOM file, and pydicom is not installed (pip install 'erosion-zoo[dicom]')") from None
    try:
        data = pydicom.dcmread(path)
        rows, columns = int(data.Rows), int(data.Columns)
        if max(rows, columns) ** 2 > MAX_PIXELS:
            raise UnreadableImage(f"image too large ({columns} x {rows} pixels)")
        values = np.asarray(data.pixel_array, dtype=np.float64)
    except UnreadableImage:
        raise
    except (InvalidDicomError, AttributeError, KeyError, ValueError, TypeError, OSError, RuntimeError):
        raise UnreadableImage(
            "not a readable DICOM image (no pixels, or compressed in a way this install cannot decode)"
        ) from None
    if values.ndim != 2:
        raise UnreadableImage(f"a DICOM image of {values.ndim} dimensions (one 2-D radiograph is read)")
    values = values * float(getattr(data, "RescaleSlope", 1) or 1) + float(getattr(data, "RescaleIntercept", 0) or 0)
    if str(getattr(data, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = values.max() - values
    return to_gray(Image.fromarray(values.astype(np.float32), mode="F"))


def to_gray(image: Image.Image) -> Image.Image:
    """Convert any PIL image mode to 8-bit grayscale."""
    if image.mode == "L":
        return image.copy()
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all():
            raise UnreadableImage("pixels that are not numbers (NaN or infinite)")
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("L")


def prepare(image: Image.Image, size: int, equalize: Equalize = "none") -> np.ndarray:
    """Pad a grayscale image to a square, resize it to `size`, equalise; uint8 (size, size)."""
    width, height = image.size
    side = max(width, height)
    if width != height:
        square = Image.new("L", (side, side), 0)
        square.paste(image, ((side - width) // 2, (side - height) // 2))
        image = square
    if side != size:
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    if equalize == "linear":
        image = ImageOps.autocontrast(image)
    elif equalize == "histogram":
        image = ImageOps.equalize(image)
    return np.asarray(image, dtype=np.uint8)


def load_prepared(path: str | Path, size: int, equalize: Equalize = "none") -> np.ndarray:
    """`prepare(load_gray(path))`: the model's view of one file."""
    return prepare(load_gray(path), size, equalize)


def images_in(folder: Path) -> list[Path]:
    """The images under a folder, dangling links included: they become error rows, not silence."""
    return sorted(
        p for p in folder.rglob("*") if (p.is_file() or p.is_symlink()) and p.suffix.lower() in IMAGE_SUFFIXES
    )
