"""In-memory image tensors served a whole batch at a time.

A MedMNIST split at 28x28 fits in memory as one uint8 tensor. `ImageTensorDataset.__getitems__` lets PyTorch's
DataLoader fetch a batch with one indexing operation instead of one Python call per sample, and conversion to float
happens once per batch. The DataLoader stays a plain DataLoader, so Lightning can still shard it across processes.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def channels_first(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W, C) or volumes (N, D, H, W, C) as one contiguous tensor (N, C, H, W) / (N, C, D, H, W)."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, 1)))


class ImageTensorDataset(Dataset):
    """uint8 images (N, C, H, W) or volumes (N, C, D, H, W) and labels; batches come back as (uint8 images, labels)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        if images.ndim == 3:
            images = images[..., None]
        self.images = channels_first(images)
        self.labels = torch.from_numpy(np.asarray(labels).astype(np.int64))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: Sequence[int]):
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], self.labels[index]


def _keep_batch(batch):
    """The batch is already stacked by `__getitems__`; collation has nothing left to do."""
    return batch


class EpochSeededSampler(Sampler[int]):
    """A random permutation that depends only on (seed, epoch), so a resumed run sees the same order."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())


def make_loader(
    dataset: ImageTensorDataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0
) -> DataLoader:
    """A DataLoader over whole batches; shuffled loaders are seeded per epoch."""
    sampler = EpochSeededSampler(len(dataset), seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=_keep_batch,
        num_workers=num_workers,
        drop_last=False,
    )


def to_tensor_dataset(images: np.ndarray, labels: np.ndarray) -> torch.utils.data.TensorDataset:
    """Float images in [0, 1] (N, C, H, W) with labels, for users who want plain tensors."""
    if images.ndim == 3:
        images = images[..., None]
    tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float().div_(255)
    return torch.utils.data.TensorDataset(tensor, torch.from_numpy(np.asarray(labels).astype(np.int64)))
