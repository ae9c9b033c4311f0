"""Domain objects for data: what a dataset is, and its samples in memory (images, ECG beats or text)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import numpy as np

TaskType = Literal["binary", "multi-class", "multi-label", "ordinal", "language-model"]
TASK_TYPES: tuple[str, ...] = ("binary", "multi-class", "multi-label", "ordinal", "language-model")
# What the samples are: decides the loader's options, the models that fit and the trainer's batches.
DataKind = Literal["image", "ecg", "text"]
SPLITS: tuple[str, ...] = ("train", "val", "test")
WHOLE_SPLIT = "all"  # every sample of a dataset as one split: an external test set is scored whole


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: enough to build a model for it and to describe it in a table.

    `labels` are the class names (for multi-label: the label names). `splits` maps split name to sample count
    (the official counts for registered sets). `sizes` lists the image sizes the source offers; `modality` picks
    the augmentation that suits the images (e.g. no left-right flips for chest X-rays or CT). `kind` says whether
    samples are images, ECG beats or text; `default_model` and `default_preset` are what `meddl train` uses when
    the user names none (empty: the image defaults). `spatial_dims` is 3 for volumes (CT, MRI, microscopy stacks),
    whose images are (N, D, H, W, C), and 2 for flat images (N, H, W, C).
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
    spatial_dims: int = 2

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def table_row(self) -> list[str]:
        """This dataset's row in `meddl datasets`: name, kind, task, classes, channels, sizes, train/val/test,
        license, modality (a dash where a column does not apply to its kind of data)."""
        image = self.kind == "image"
        splits = "/".join(str(self.splits.get(s, "?")) for s in SPLITS)
        sizes = ",".join(f"{size}³" if self.spatial_dims == 3 else str(size) for size in self.sizes)
        return [self.name, self.kind, self.task, str(self.n_classes) if self.labels else "-",
                str(self.n_channels) if self.kind != "text" else "-", sizes if image else "-",
                splits, self.license, self.modality if image else "-"]


@dataclass
class Splits:
    """A dataset in memory, one entry per split: what every kind of data shares.

    labels[split]: int64 (N,) class indices ((N, L) 0/1 for multi-label; empty for a language model).
    groups[split]: who each sample belongs to (the patient, ECG record or source document), so that no one is split
    across train/val/test and the bootstrap resamples whole groups; empty where the data does not say.
    """

    info: DatasetInfo
    labels: dict[str, np.ndarray]
    groups: dict[str, list[str]] = field(default_factory=dict)

    def samples(self, split: str) -> Sequence:
        """The samples of `split` (images, beats or texts), in order."""
        raise NotImplementedError

    def split_names(self) -> list[str]:
        return list(self.labels)

    def size(self, split: str) -> int:
        return len(self.samples(split)) if split in self.labels else 0

    def fingerprint_bytes(self, split: str) -> Iterable[bytes]:
        """The bytes that identify `split`'s samples as loaded (see `meddl.manifest.data_fingerprint`)."""
        yield np.ascontiguousarray(self.samples(split)).tobytes()


@dataclass
class ImageSplits(Splits):
    """Images in memory: images[split] is uint8 (N, H, W, C), or (N, D, H, W, C) for volumes. `sources[split]` optionally names the file each sample
    came from (a path, not a patient: `groups` holds the patient where the layout says)."""

    images: dict[str, np.ndarray] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)

    def samples(self, split: str) -> np.ndarray:
        return self.images[split]

    @property
    def image_size(self) -> tuple[int, ...]:
        """The spatial shape of the images: (H, W), or (D, H, W) for volumes."""
        first = next(iter(self.images.values()))
        return tuple(int(side) for side in first.shape[1:-1])


@dataclass
class SignalSplits(Splits):
    """ECG beats in memory: signals[split] is float32 (N, leads, T) beat windows, filtered and normalised per beat;
    groups[split] the record (patient) of each beat; features[split] float32 (N, F) per-beat extras named by
    `feature_names` (RR intervals), absent when not asked. `options` is the resolved `EcgOptions`, kept with the
    checkpoint (as a dict)."""

    signals: dict[str, np.ndarray] = field(default_factory=dict)
    sampling_rate: float = 0.0
    features: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: tuple[str, ...] = ()
    options: Any = None

    def samples(self, split: str) -> np.ndarray:
        return self.signals[split]


@dataclass
class TextSplits(Splits):
    """Text in memory: texts[split] one passage (or abstract, for language modelling) per sample; questions[split]
    paired with each text for question answering (absent otherwise); groups[split] the source document of each
    sample, so no document is split across train/val/test. `options` is the resolved `TextOptions`.
    positions[split]: int64 (N, 2) each passage's index in its source document and the document's passage count,
    as the original document had them (passages a loader drops still count); absent where the source does not say,
    and then read from the order of `groups`."""

    texts: dict[str, list[str]] = field(default_factory=dict)
    questions: dict[str, list[str]] = field(default_factory=dict)
    options: Any = None
    positions: dict[str, np.ndarray] = field(default_factory=dict)

    def samples(self, split: str) -> list[str]:
        return self.texts[split]

    def split_names(self) -> list[str]:
        return list(self.texts)

    def fingerprint_bytes(self, split: str) -> Iterable[bytes]:
        for question, text in zip(self.questions.get(split, [""] * len(self.texts[split])), self.texts[split]):
            yield f"{question}\x1f{text}\x1e".encode()
