"""The one registry of datasets.

Each source module registers its datasets with `register_dataset` next to their definitions; `load_dataset` builds
any of them by name, and a path to the user's own data works wherever a name does: a folder or CSV of images, a
MedMNIST-layout `.npz`, a folder of WFDB ECG records, or PubMed RCT-format text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Union

import numpy as np

from meddl.data.types import WHOLE_SPLIT, DatasetInfo, ImageSplits, SignalSplits, TextSplits
from meddl.errors import DataError, did_you_mean

Splits = Union[ImageSplits, SignalSplits, TextSplits]
# Image sets: load(data_dir, size). ECG and text sets: load(data_dir, seed=..., **options), the options checked by
# the source module's own typed dataclass.
Loader = Callable[..., Splits]


@dataclass(frozen=True)
class RegisteredDataset:
    info: DatasetInfo
    load: Loader


_REGISTRY: dict[str, RegisteredDataset] = {}


def register_dataset(info: DatasetInfo, load: Loader) -> None:
    """Add a dataset under `info.name`; `load` returns all its splits (see `Loader`)."""
    if info.name in _REGISTRY:
        raise ValueError(f"dataset {info.name!r} is registered twice")
    _REGISTRY[info.name] = RegisteredDataset(info, load)


def _ensure_sources_registered() -> None:
    # Importing a source module registers its datasets.
    from meddl.data import ecg, medmnist, text  # noqa: F401


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, by name."""
    _ensure_sources_registered()
    return [_REGISTRY[name].info for name in sorted(_REGISTRY)]


def dataset_info(name: str) -> DatasetInfo:
    _ensure_sources_registered()
    try:
        return _REGISTRY[name.lower()].info
    except KeyError:
        suggestion = did_you_mean(name, _REGISTRY)
        if suggestion:
            raise DataError(f"unknown dataset {name!r}: {suggestion} (`meddl datasets` lists every registered set; "
                            "a path to your own data works too)") from None
        raise DataError(
            f"unknown dataset {name!r}: expected one of {', '.join(sorted(_REGISTRY))}, "
            "or a path to your own data (a folder of class sub-folders, a CSV of path,label, a MedMNIST-layout .npz, "
            "a folder of WFDB records, or PubMed RCT text)"
        ) from None


def default_data_dir() -> Path | None:
    """The folder named by MEDDL_DATA_DIR, if set."""
    value = os.environ.get("MEDDL_DATA_DIR")
    return Path(value).expanduser() if value else None


def is_user_dataset(name: str) -> bool:
    """True when `name` points at the user's own data (a folder or a file) rather than a registered set."""
    _ensure_sources_registered()
    if name.lower() in _REGISTRY:
        return False
    path = Path(name).expanduser()
    return path.is_dir() or path.suffix.lower() in (".csv", ".npz", ".txt") or os.sep in name


def preview(name: str) -> DatasetInfo:
    """What can be said of a dataset before loading it: its registered `DatasetInfo`, or for the user's own data a
    provisional one whose `kind` comes from the layout (WFDB records: ecg; RCT text: text; else images, volumes
    when an .npz holds cubes or a folder's first image file is a 3D NIfTI); its labels and counts are known only
    once it is loaded."""
    if not is_user_dataset(name):
        return dataset_info(name)
    from meddl.data import folders, npz
    from meddl.data.ecg import is_wfdb_folder
    from meddl.data.text import is_rct_text

    path = Path(name).expanduser()
    kind = "ecg" if is_wfdb_folder(path) else "text" if is_rct_text(path) else "image"
    volumes = npz.holds_volumes(path) if path.suffix.lower() == ".npz" else (
        kind == "image" and folders.holds_volumes(path))
    return DatasetInfo(name=path.name, task="multi-class", n_channels=0, labels=(), splits={}, license="user data",
                       kind=kind, spatial_dims=3 if volumes else 2)


def dataset_defaults(name: str) -> tuple[str, str | None]:
    """The preset and model `meddl train` uses for a dataset when the user names none: the dataset's own for a
    registered set, by layout for the user's own data (WFDB records: ecg; RCT text: sections, whose passage-sequence
    model labels an abstract's sentences together; else the image default)."""
    info = preview(name)
    if is_user_dataset(name):
        if info.spatial_dims == 3:
            return "volume", "fast-cnn-3d"
        return {"ecg": "ecg", "text": "sections"}.get(info.kind, "fast"), None
    return info.default_preset or "fast", info.default_model or None


def _load_user_data(path: Path, size: int, seed: int, options: dict, whole: bool, record_split: bool) -> Splits:
    """The user's own data, recognised by its layout: WFDB records (*.hea), RCT text (*.txt), an .npz, or images."""
    from meddl.data.ecg import is_wfdb_folder
    from meddl.data.text import is_rct_text

    if path.suffix.lower() == ".npz":
        from meddl.data.npz import load_npz

        return load_npz(path, size=size)
    if is_wfdb_folder(path):
        from meddl.data.ecg import load_user_records

        return load_user_records(path, seed=seed, **options)
    if is_rct_text(path):
        from meddl.data.text import load_rct

        return load_rct(path, seed=seed, **options)
    if options:
        raise DataError(f"{path}: options {', '.join(sorted(options))} apply to ECG or text data, not to images")
    from meddl.data.folders import load_user_images

    return load_user_images(path, size=size, seed=seed, whole=whole, record_split=record_split)


def _as_one_split(splits: Splits) -> ImageSplits:
    """Every split of an image dataset joined, in train/val/test order, as the one split "all"."""
    if not isinstance(splits, ImageSplits):
        raise DataError(f"{splits.info.name} holds {splits.info.kind} data; scoring a dataset whole (split "
                        f"{WHOLE_SPLIT!r}) is for images: choose one of its splits ({', '.join(splits.split_names)})")
    if list(splits.images) == [WHOLE_SPLIT]:
        return splits
    names = list(splits.images)
    joined = ImageSplits(
        info=replace(splits.info, splits={WHOLE_SPLIT: sum(len(splits.images[n]) for n in names)}),
        labels={WHOLE_SPLIT: np.concatenate([splits.labels[n] for n in names])},
        images={WHOLE_SPLIT: np.concatenate([splits.images[n] for n in names])},
        sources={WHOLE_SPLIT: [s for n in names for s in splits.sources.get(n, [""] * len(splits.images[n]))]}
        if splits.sources else {},
        groups={WHOLE_SPLIT: [g for n in names for g in splits.groups[n]]} if splits.groups else {},
    )
    return joined


def load_dataset(
    name: str,
    size: int = 28,
    data_dir: str | Path | None = None,
    seed: int = 0,
    options: dict | None = None,
    whole: bool = False,
    record_split: bool = True,
) -> Splits:
    """Load every split of a registered dataset, or of the user's own data, into memory.

    `data_dir` (or MEDDL_DATA_DIR) is where registered sets are looked for and downloaded to. For a user's
    folder or CSV without an official split, a seeded stratified split is made and saved beside the data (kept in
    memory only without `record_split`). `whole` gives one split, "all", holding every image (an external test
    set; a user's folder is then not split at all). `options` configure ECG and text loaders (e.g. beat window,
    split scheme, tokenisation); images take `size`.
    """
    directory = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    options = dict(options or {})
    if is_user_dataset(name):
        data = _load_user_data(Path(name).expanduser(), size, seed, options, whole, record_split)
        return _as_one_split(data) if whole else data
    if whole:
        return _as_one_split(load_dataset(name, size, data_dir, seed, options))
    entry = _REGISTRY.get(name.lower())
    if entry is None:
        dataset_info(name)  # raises the clear error
    assert entry is not None
    if entry.info.kind != "image":
        return entry.load(directory, seed=seed, **options)
    if options:
        raise DataError(f"{entry.info.name}: options {', '.join(sorted(options))} apply to ECG or text data, "
                        "not to images")
    if size not in entry.info.sizes:
        raise DataError(f"{entry.info.name}: size {size} is not offered; expected one of {entry.info.sizes}")
    return entry.load(directory, size)


def get_dataset(
    name: str, split: str = "train", size: int = 28, data_dir: str | Path | None = None, seed: int = 0
):
    """One split as a `torch.utils.data.TensorDataset` of float images in [0, 1] (N, C, H, W) and labels."""
    from meddl.data.tensors import to_tensor_dataset

    splits = load_dataset(name, size=size, data_dir=data_dir, seed=seed)
    if not isinstance(splits, ImageSplits):
        raise DataError(f"{name} holds {splits.info.kind} data, not images")
    if split not in splits.images:
        raise DataError(f"{name}: no split {split!r}; expected one of {sorted(splits.images)}")
    return to_tensor_dataset(splits.images[split], splits.labels[split])
