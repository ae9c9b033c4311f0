"""Domain objects for data: what a dataset is, and its samples in memory (images, ECG beats or text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

TaskType = Literal["binary", "multi-class", "multi-label", "ordinal", "language-model"]
TASK_TYPES: tuple[str, ...] = ("binary", "multi-class", "multi-label", "ordinal", "language-model")
# What the samples are: decides the loader's options, the models that fit and the trainer's batches.
DataKind = Literal["image", "ecg", "text"]
SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: enough to build a model for it and to describe it in a table.

    `labels` are the class names (for multi-label: the label names). `splits` maps split name to sample count
    (the official counts for registered sets). `sizes` lists the image sizes the source offers; `modality` picks
    the augmentation that suits the images (e.g. no left-right flips for chest X-rays or CT). `kind` says whether
    samples are images, ECG beats or text; `default_model` and `default_preset` are what `meddl train` uses when
    the user names none (empty: the image defaults).
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
    kind: DataKind = "image"
    default_model: str = ""
    default_preset: str = ""

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


@dataclass
class SignalSplits:
    """ECG beats in memory, one array per split.

    signals[split]: float32 (N, leads, T) beat windows, filtered and normalised per beat; labels[split]: int64 (N,)
    indices into `info.labels`; records[split]: (N,) str, the record (patient) each beat came from;
    features[split]: float32 (N, F) per-beat extras named by `feature_names` (RR intervals), absent when not asked.
    `options` is the resolved loader configuration (window, split scheme, filter), kept with the checkpoint.
    """

    info: DatasetInfo
    signals: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    records: dict[str, np.ndarray]
    sampling_rate: float
    features: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)


@dataclass
class TextSplits:
    """Text in memory, one list per split.

    texts[split]: list[str], one passage (or abstract, for language modelling) per sample; labels[split]: int64 (N,)
    indices into `info.labels` (empty arrays for a language model); questions[split]: list[str] paired with each
    text for question answering (absent otherwise); groups[split]: list[str], the source document of each sample, so
    no document is split across train/val/test. `options` is the resolved loader configuration.
    """

    info: DatasetInfo
    texts: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    groups: dict[str, list[str]]
    questions: dict[str, list[str]] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
