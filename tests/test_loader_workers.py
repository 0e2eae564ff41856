"""`train.num_workers` and `train.compile`: sensible defaults, and clear errors where they cannot work."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from zoo.compose.recipe import TrainConfig
from zoo.data.loader import CropBatches, batches
from zoo.errors import UsageError
from zoo.training.device import check_compile, loader_workers


def test_auto_workers_are_none_on_cpu_and_most_cores_on_cuda() -> None:
    cores = os.cpu_count() or 1
    assert loader_workers("auto", torch.device("cpu")) == 0
    assert loader_workers("auto", torch.device("cuda", 0)) == min(8, max(cores - 1, 0))
    assert loader_workers(cores, torch.device("cpu")) == cores


def test_more_workers_than_cores_is_one_clear_error() -> None:
    cores = os.cpu_count() or 1
    with pytest.raises(UsageError, match=f"{cores + 1} loader workers, but this machine has {cores} cores") as caught:
        loader_workers(cores + 1, torch.device("cpu"))
    assert "num_workers: auto" in (caught.value.hint or "")


def test_compile_where_it_cannot_work_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(function: object) -> object:
        raise RuntimeError("no compiler")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.raises(UsageError, match=r"train.compile: torch.compile does not work on this machine \(RuntimeError\)"):
        check_compile(torch.device("cpu"))


def test_workers_share_the_memory_mapped_cache(tmp_path) -> None:
    pixels = np.lib.format.open_memmap(tmp_path / "pixels.npy", mode="w+", dtype=np.uint8, shape=(40, 8, 8))
    pixels[:] = np.arange(40, dtype=np.uint8)[:, None, None]
    pixels.flush()
    shared = np.load(tmp_path / "pixels.npy", mmap_mode="r")
    dataset = CropBatches(shared, np.arange(40), np.zeros(40))
    seen = [value for images, _, _, _ in batches(dataset, 10, num_workers=2) for value in images[:, 0, 0, 0].tolist()]
    assert seen == list(range(40)), "every batch arrives, in order, read from the shared map"


def test_compile_true_is_the_default_mode_and_false_compiles_nothing() -> None:
    assert TrainConfig(compile=True).compile_mode == "default"
    assert TrainConfig(compile="reduce-overhead").compile_mode == "reduce-overhead"
    assert TrainConfig().compile_mode is None, "off by default"
