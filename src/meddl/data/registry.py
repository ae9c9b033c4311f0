"""The one registry of datasets.

Each source module registers its datasets with `register_dataset` next to their definitions; `get_dataset` builds
any of them by name, and a path to a folder or CSV of the user's own images works wherever a name does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from meddl.data.types import DatasetInfo, ImageSplits
from meddl.errors import DataError

Loader = Callable[[Path | None, int], ImageSplits]


@dataclass(frozen=True)
class RegisteredDataset:
    info: DatasetInfo
    load: Loader


_REGISTRY: dict[str, RegisteredDataset] = {}


def register_dataset(info: DatasetInfo, load: Loader) -> None:
    """Add a dataset under `info.name`; `load(data_dir, size)` returns all its splits."""
    if info.name in _REGISTRY:
        raise ValueError(f"dataset {info.name!r} is registered twice")
    _REGISTRY[info.name] = RegisteredDataset(info, load)


def _ensure_sources_registered() -> None:
    # Importing a source module registers its datasets.
    from meddl.data import medmnist  # noqa: F401


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, by name."""
    _ensure_sources_registered()
    return [_REGISTRY[name].info for name in sorted(_REGISTRY)]


def dataset_info(name: str) -> DatasetInfo:
    _ensure_sources_registered()
    try:
        return _REGISTRY[name.lower()].info
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}: expected one of {', '.join(sorted(_REGISTRY))}, "
            "or a path to a folder of class sub-folders or a CSV of path,label"
        ) from None


def default_data_dir() -> Path | None:
    """The folder named by MEDDL_DATA_DIR, if set."""
    value = os.environ.get("MEDDL_DATA_DIR")
    return Path(value).expanduser() if value else None


def is_user_dataset(name: str) -> bool:
    """True when `name` points at the user's own images (a folder or a CSV file) rather than a registered set."""
    _ensure_sources_registered()
    if name.lower() in _REGISTRY:
        return False
    path = Path(name).expanduser()
    return path.is_dir() or path.suffix.lower() == ".csv" or os.sep in name


def load_dataset(
    name: str,
    size: int = 28,
    data_dir: str | Path | None = None,
    seed: int = 0,
) -> ImageSplits:
    """Load every split of a registered dataset, or of a user's folder/CSV of images, into memory.

    `data_dir` (or MEDDL_DATA_DIR) is where registered sets are looked for and downloaded to. For a user's
    folder or CSV without an official split, a seeded stratified split is made and saved beside the data.
    """
    directory = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if is_user_dataset(name):
        from meddl.data.folders import load_user_images

        return load_user_images(Path(name).expanduser(), size=size, seed=seed)
    entry = _REGISTRY.get(name.lower())
    if entry is None:
        dataset_info(name)  # raises the clear error
    assert entry is not None
    if size not in entry.info.sizes:
        raise DataError(f"{entry.info.name}: size {size} is not offered; expected one of {entry.info.sizes}")
    return entry.load(directory, size)


def get_dataset(
    name: str, split: str = "train", size: int = 28, data_dir: str | Path | None = None, seed: int = 0
):
    """One split as a `torch.utils.data.TensorDataset` of float images in [0, 1] (N, C, H, W) and labels."""
    from meddl.data.tensors import to_tensor_dataset

    splits = load_dataset(name, size=size, data_dir=data_dir, seed=seed)
    if split not in splits.images:
        raise DataError(f"{name}: no split {split!r}; expected one of {sorted(splits.images)}")
    return to_tensor_dataset(splits.images[split], splits.labels[split])
