"""Domain objects for image classification data: what a dataset is, and its samples in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

TaskType = Literal["binary", "multi-class", "multi-label", "ordinal"]
TASK_TYPES: tuple[str, ...] = ("binary", "multi-class", "multi-label", "ordinal")
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: enough to build a model for it and to describe it in a table.

    `labels` are the class names (for multi-label: the label names). `splits` maps split name to sample count
    (the official counts for registered sets). `sizes` lists the image sizes the source offers; `modality` picks
    the augmentation that suits the images (e.g. no left-right flips for chest X-rays or CT).
    """

    name: str
    task: TaskType
    n_channels: int
    labels: tuple[str, ...]
    splits: dict[str, int]
    license: str
    description: str = ""
    sizes: tuple[int, ...] = (28,)
    modality: str = "generic"

    @property
    def n_classes(self) -> int:
        return len(self.labels)


@dataclass
class ImageSplits:
    """A dataset loaded into memory, one array per split.

    images[split]: uint8 array (N, H, W, C). labels[split]: int64 array (N,) for binary/multi-class/ordinal,
    (N, L) of 0/1 for multi-label. `sources[split]` optionally names the file each sample came from.
    """

    info: DatasetInfo
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    sources: dict[str, list[str]] = field(default_factory=dict)

    @property
    def image_size(self) -> tuple[int, int]:
        first = next(iter(self.images.values()))
        return int(first.shape[1]), int(first.shape[2])
