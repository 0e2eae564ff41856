"""Peak memory of training's input side on a large phantom: is it the cache's size, or a multiple?

Renders and decodes a phantom of about `--crops` crops of `--size` px through the zoo (the
decoded cache is one memory-mapped uint8 file), then reads one shuffled epoch of batches through
the trainer's loader with `--workers` worker processes. Every 0.1 s it sums the proportional set
size (PSS: shared pages divided among the processes that map them) of this process and its
workers, and reports the peak against the cache's size. Linux only (/proc/PID/smaps_rollup).

Usage: python benchmarks/loader_memory.py [--crops 20000] [--size 150] [--workers 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np
from common import arguments, bench_recipe, machine

from zoo.data.loader import CropBatches, batches

JOINTS = 10
VISITS = 2


def pss_bytes(pid: int) -> int:
    """The proportional set size of one process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    """The child processes of `pid` (the loader's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        path = task / "children"
        if path.is_file():
            found += [int(child) for child in path.read_text().split()]
    return found


class PeakMemory:
    """Samples the summed PSS of this process and its children in a thread; keeps the peak."""

    def __init__(self) -> None:
        self.peak = 0
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        while self.running:
            self.peak = max(self.peak, sum(pss_bytes(p) for p in [me, *children(me)]))
            time.sleep(0.1)

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=20_000)  # the scale: --crops 100000
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    args = arguments(parser, crops=400, size=64)
    patients = max(1, args.crops // (JOINTS * VISITS) * 4 // 3)  # visits are drawn from 1..VISITS
    start = time.perf_counter()
    _, _, prepared = bench_recipe(patients, args.size, args.batch)
    made = time.perf_counter() - start
    pixels = prepared.pixels
    cache = pixels.size * pixels.itemsize
    rows = prepared.table["pixel_row"].to_numpy()
    dataset = CropBatches(pixels, rows, np.zeros(len(rows)))
    before = pss_bytes(os.getpid())
    with PeakMemory() as memory:
        seen = 0
        for images, _, _, _ in batches(dataset, args.batch, shuffle=True, num_workers=args.workers):
            seen += len(images)
    print(f"machine: {machine()}")
    print(f"{len(rows)} phantom crops of {args.size} px ({patients} patients), rendered and decoded in {made:.0f} s")
    print(f"one shuffled epoch of {seen} crops in batches of {args.batch}, {args.workers} loader workers")
    print("| what | MiB | x cache |")
    print("|---|---|---|")
    print(f"| decoded cache (memory-mapped file) | {cache / 2**20:.0f} | 1.00 |")
    print(f"| this process before the epoch (PSS) | {before / 2**20:.0f} | {before / cache:.2f} |")
    print(f"| peak during the epoch, process + workers (PSS) | {memory.peak / 2**20:.0f} | {memory.peak / cache:.2f} |")
    grown = memory.peak - before
    print(f"| peak above the process before the epoch | {grown / 2**20:.0f} | {grown / cache:.2f} |")


if __name__ == "__main__":
    main()
