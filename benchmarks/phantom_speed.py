"""Phantom writing speed: the installed generator against writing as many plain JPEGs, in one run.

Each repeat writes the phantom as `zoo data phantom` does (its worker processes included) into a
temporary folder, then as many plain JPEGs of noise of the same size, one process
(`plain_jpeg_seconds`: the floor any generator pays), and reports both times and their ratio.
The plain JPEGs' time swings with the file system, and the ratio with it, so to compare
generator versions, run the script for
each version in turn, more than once, and compare the phantom's own times (docs/data.md says how
the versions were put in front of the installed one).

Usage: python benchmarks/phantom_speed.py [--patients 1000] [--visits 3] [--size 128] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import arguments, machine
from PIL import Image
from zoo_plugins.phantom.generator import GENERATOR_VERSION, write_phantom


def plain_jpeg_seconds(folder: Path, count: int, size: int, seed: int) -> float:
    """Seconds to write `count` JPEGs of noise of the same size: the floor any generator pays."""
    folder.mkdir()
    noise = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    start = time.perf_counter()
    for i in range(count):
        Image.fromarray(np.roll(noise, i)).save(folder / f"{i}.jpg", format="JPEG", quality=85)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = arguments(parser, patients=10, size=32, repeats=1)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    rows = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            info = write_phantom(Path(tmp) / "phantom", args.patients, args.visits, args.size, args.seed)
            phantom = time.perf_counter() - start
            crops = int(info["summary"]["crops"])
            plain = plain_jpeg_seconds(Path(tmp) / "plain", crops, args.size, args.seed)
        rows.append((phantom, plain))

    print(machine())
    print(f"generator version {GENERATOR_VERSION}: {crops} crops of {args.size} px, seed {args.seed}")
    print("| repeat | phantom (s) | plain JPEGs (s) | phantom / plain |")
    print("|---|---:|---:|---:|")
    for repeat, (phantom, plain) in enumerate(rows, 1):
        print(f"| {repeat} | {phantom:.2f} | {plain:.2f} | {phantom / plain:.2f} |")
    median_phantom = statistics.median(phantom for phantom, _ in rows)
    median_plain = statistics.median(plain for _, plain in rows)
    ratio = statistics.median(phantom / plain for phantom, plain in rows)
    print(f"| median | {median_phantom:.2f} | {median_plain:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
