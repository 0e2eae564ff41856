"""Decode once: every image of a table, prepared at one size, in a memory-mapped uint8 array.

The cache folder is keyed by the content of every file (not its name or time), the size and the
equalisation, so runs on the same data share it, and a changed file gets a fresh cache. Reading
the files to hash them is the only work a warm start does. Files that cannot be decoded are
recorded with the reason (missing file, truncated image, ...), never silently dropped. A damaged
cache folder (a missing or short array, unreadable metadata) is decoded again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np

from zoo.images import Equalize, UnreadableImage, check_file, load_gray, prepare
from zoo.paths import build_once, cache_root
from zoo.progress import task, track

DECODER_VERSION = 2  # 2: meta.json records every image's size
PARALLEL_FROM = 2000  # decode in worker processes from this many images on
CHUNK = 500


class CacheMeta(TypedDict):
    """A cache folder's meta.json, as read back."""

    count: int
    size: int
    equalize: Equalize
    errors: dict[str, str]  # why image i could not be read, by str(i)
    sizes: list[list[int]]  # each image's (width, height) before it was padded and resized; (0, 0) unread


@dataclass
class DecodedImages:
    """`pixels[i]` is image i as uint8 (size, size); `errors[i]` says why it could not be read;
    `sizes[i]` is its (width, height) in the file, which positions on it (landmarks) need."""

    pixels: np.ndarray
    errors: dict[int, str]
    sizes: np.ndarray  # int (N, 2)
    folder: Path


def _digest(path: str) -> str:
    """The file's content hash, read in blocks; "unreadable" for what decoding will refuse (a pipe,
    a device, a missing file), which is never opened here."""
    try:
        check_file(path)
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except (OSError, UnreadableImage):
        return "unreadable"


def _decode_chunk(job: tuple[str, int, int, int, list[str], str]) -> tuple[dict[int, str], list[list[int]]]:
    """Decode paths into rows `start...` of the memory map (runs in a worker or in-process); the
    reasons of those that could not be read, and every image's size."""
    array_path, count, size, start, paths, equalize = job
    pixels = np.memmap(array_path, dtype=np.uint8, mode="r+", shape=(count, size, size))
    errors, sizes = {}, []
    for offset, path in enumerate(paths):
        try:
            image = load_gray(path)
            pixels[start + offset] = prepare(image, size, equalize)  # type: ignore[arg-type]
            sizes.append(list(image.size))
        except UnreadableImage as exc:
            errors[start + offset] = str(exc)
            sizes.append([0, 0])
    pixels.flush()
    return errors, sizes


def _open(folder: Path, size: int) -> tuple[CacheMeta, np.ndarray]:
    """A cache folder's metadata and its memory-mapped pixels."""
    meta: CacheMeta = json.loads((folder / "meta.json").read_text())
    shape = (max(meta["count"], 1), size, size)
    return meta, np.memmap(folder / "pixels.u8", dtype=np.uint8, mode="r", shape=shape)


def _readable(folder: Path, size: int, count: int) -> bool:
    """Whether a cache folder is whole: readable metadata for `count` images and a full array."""
    try:
        meta, _ = _open(folder, size)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return meta.get("count") == count and len(meta.get("sizes", [])) == count


def decode(paths: list[str], size: int, equalize: Equalize = "none", workers: int | None = None) -> DecodedImages:
    """Decoded, prepared images for `paths`, from the cache or decoded now (then cached)."""
    digests = [_digest(p) for p in track(paths, "hashing images")]
    key_source = json.dumps([DECODER_VERSION, size, equalize, digests])
    key = hashlib.sha256(key_source.encode()).hexdigest()[:20]
    folder = cache_root() / "decoded" / f"{size}px-{key}"

    def build(tmp: Path) -> None:
        array_path = tmp / "pixels.u8"
        count = len(paths)
        np.memmap(array_path, dtype=np.uint8, mode="w+", shape=(max(count, 1), size, size)).flush()
        jobs = [
            (str(array_path), max(count, 1), size, start, paths[start : start + CHUNK], equalize)
            for start in range(0, count, CHUNK)
        ]
        n = workers or (min(os.cpu_count() or 1, len(jobs)) if count >= PARALLEL_FROM else 1)
        errors: dict[int, str] = {}
        sizes: list[list[int]] = []
        pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) if n > 1 else None
        with task("decoding images", count) as step, pool or nullcontext():
            decoded = pool.map(_decode_chunk, jobs) if pool is not None else map(_decode_chunk, jobs)
            for start, (found, chunk_sizes) in zip(range(0, count, CHUNK), decoded, strict=True):
                errors.update(found)
                sizes += chunk_sizes
                step.advance(min(CHUNK, count - start))
        meta = {"count": count, "size": size, "equalize": equalize, "errors": errors, "sizes": sizes}
        (tmp / "meta.json").write_text(json.dumps(meta))

    build_once(folder, build, usable=lambda built: _readable(built, size, len(paths)))
    meta, pixels = _open(folder, size)
    return DecodedImages(
        pixels=pixels[: meta["count"]],
        errors={int(k): v for k, v in meta["errors"].items()},
        sizes=np.array(meta["sizes"], dtype=np.int64).reshape(-1, 2),
        folder=folder,
    )
