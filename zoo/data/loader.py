"""Batches of decoded crops for training and evaluation.

Batches are read straight from the memory-mapped cache (one fancy-indexed read per batch, rows
in file order) and stay uint8 until they reach the device, where the trainer augments the whole
batch at once (zoo.data.augment). `torch.utils.data.DataLoader` does the workers, pinned memory
and prefetching; workers share the memory-mapped cache (each maps the same file: no copies).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Sized
from typing import cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

# uint8 images (B, 1, S, S), float targets (B,), sample indices (B,), repeats to augment (B,) bool
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
Item = int | tuple[int, bool]  # a sample's index, or (index, is a repeat to augment)
PREFETCH = 4  # batches each worker keeps ready


class CropBatches(Dataset[Batch]):
    """Samples `rows` of `pixels` with their `targets`; indexing by a list gives a whole batch.

    An item is a sample's index, or an (index, copy) pair from an epoch draw: a copy is a repeat
    of the sample (oversampling), which the trainer augments.
    """

    def __init__(self, pixels: np.ndarray, rows: np.ndarray, targets: np.ndarray) -> None:
        self.pixels = pixels
        self.rows = np.asarray(rows, dtype=np.int64)
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: Item) -> Batch:
        return self.__getitems__([item])

    def __getitems__(self, items: Sequence[Item]) -> Batch:
        """(uint8 images (B, 1, S, S), float targets (B,), sample indices (B,), copies (B,))."""
        pairs = [item if isinstance(item, tuple) else (item, False) for item in items]
        indices = np.array([index for index, _ in pairs], dtype=np.int64)
        copies = torch.tensor([copy for _, copy in pairs], dtype=torch.bool)
        rows = self.rows[indices]
        order = np.argsort(rows, kind="stable")
        images = np.empty((len(rows), *self.pixels.shape[1:]), dtype=np.uint8)
        images[order] = self.pixels[rows[order]]
        index_tensor = torch.from_numpy(indices)
        return torch.from_numpy(images).unsqueeze(1), self.targets[index_tensor], index_tensor, copies


def _keep(batch: Batch) -> Batch:
    return batch


def batches(
    dataset: CropBatches,
    batch_size: int,
    sampler: Sampler[Item] | None = None,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    training: bool = False,
) -> DataLoader[Batch]:
    """A DataLoader over whole batches (`sampler` wins over `shuffle`). For `training`, a last batch
    of a single sample is dropped: batch normalisation cannot train on one sample."""
    generator = torch.Generator().manual_seed(seed)
    count = len(sampler) if isinstance(sampler, Sized) else len(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        drop_last=training and count > 1 and count % batch_size == 1,
        sampler=sampler,
        shuffle=shuffle if sampler is None else False,
        generator=generator,
        num_workers=num_workers,
        pin_memory=pin_memory,
        # The stubs expect a list of items; with `__getitems__`, the dataset's whole batch reaches collate_fn.
        collate_fn=cast(Callable[[list[Batch]], Batch], _keep),
        persistent_workers=num_workers > 0,
        prefetch_factor=PREFETCH if num_workers > 0 else None,
    )


def unit_floats(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (0-255) as floats in [0, 1], the scale every model of the zoo reads."""
    return images.float().div_(255.0)


def to_model_input(images: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, 1, S, S) on the host to float [0, 1] on `device`."""
    images = unit_floats(images.to(device, non_blocking=True))
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images
