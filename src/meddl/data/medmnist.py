"""MedMNIST: the 12 2D datasets at 28, 64, 128 and 224 pixels and the 6 3D ones at 28 and 64 voxels a side, with
their official splits.

Files are read from the data folder (`--data-dir` / MEDDL_DATA_DIR, or its `medmnist/` or `medmnist3d/` sub-folder),
else from the cache, else downloaded from Zenodo with MD5 verification. Every file is checked for the arrays a MedMNIST file must
hold before it is used, so a truncated or foreign file stops with a message naming it.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from meddl.data.download import default_cache_dir, download, md5sum
from meddl.data.registry import register_dataset
from meddl.data.types import SPLITS, DatasetInfo, ImageSplits
from meddl.errors import DataError, DownloadError

SIZES: tuple[int, ...] = (28, 64, 128, 224)
VOLUME_SIZES: tuple[int, ...] = (28, 64)
# Local files are re-hashed on load only up to this size: hashing a multi-GB 224x224 set on every run costs more
# than it tells (downloads are always verified).
MD5_CHECK_MAX_BYTES = 512 * 1024 * 1024


@cache
def catalog() -> dict:
    """The MedMNIST catalogue (tasks, labels, split sizes, MD5s) shipped with meddl."""
    text = resources.files("meddl.data").joinpath("medmnist_catalog.yaml").read_text()
    return yaml.safe_load(text)


def file_name(name: str, size: int) -> str:
    return f"{name}.npz" if size == 28 else f"{name}_{size}.npz"


def file_url(name: str, size: int) -> str:
    return catalog()["base_url"].format(file=file_name(name, size))


def expected_md5(name: str, size: int) -> str:
    return catalog()["datasets"][name]["md5"][size]


def locate(name: str, size: int, data_dir: Path | None, allow_download: bool = True) -> Path:
    """Find the .npz for (name, size) locally, or download it; raise one clear error if neither works."""
    filename = file_name(name, size)
    candidates = []
    if data_dir is not None:
        candidates += [data_dir / filename, data_dir / "medmnist" / filename, data_dir / "medmnist3d" / filename]
    cache_dir = default_cache_dir() / "medmnist"
    candidates.append(cache_dir / filename)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    url = file_url(name, size)
    if not allow_download:
        raise DataError(f"{filename} not found; looked in {', '.join(str(c.parent) for c in candidates)}")
    try:
        return download(url, cache_dir / filename, expected_md5(name, size))
    except DownloadError as error:
        where = data_dir if data_dir is not None else "a folder named by MEDDL_DATA_DIR"
        raise DownloadError(
            f"{name} ({'x'.join([str(size)] * catalog()['datasets'][name].get('spatial_dims', 2))}) is not available: {error}. "
            f"Without network access, put {filename} (from {url}) into {where} or {cache_dir}"
        ) from None


def read_npz(path: Path, info: DatasetInfo, size: int) -> ImageSplits:
    """Read and validate a MedMNIST-layout .npz: every split's images and labels, shapes, dtypes and label range."""
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npz file ({error}); delete it and download it again") from None
    images: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for split in SPLITS:
        for kind in ("images", "labels"):
            if f"{split}_{kind}" not in arrays:
                raise DataError(f"{path}: missing array '{split}_{kind}'; found {sorted(arrays)}")
        images[split] = _check_images(path, split, arrays[f"{split}_images"], info, size)
        labels[split] = _check_labels(path, split, arrays[f"{split}_labels"], info, len(images[split]))
    return ImageSplits(info=info, images=images, labels=labels)


def _check_images(path: Path, split: str, array: np.ndarray, info: DatasetInfo, size: int) -> np.ndarray:
    """The images with a channel axis last: (N, S, S, C), or (N, S, S, S, C) for a 3D set."""
    dims = info.spatial_dims
    if array.ndim == dims + 1:
        array = array[..., None]
    if array.ndim != dims + 2 or array.shape[1 : dims + 1] != (size,) * dims:
        expected = ", ".join(["N", *[str(size)] * dims])
        what = "volumes" if dims == 3 else "images"
        raise DataError(f"{path}: {split}_images has shape {array.shape}; {info.name} holds {dims}D {what}, "
                        f"expected ({expected}[, C])")
    if array.shape[-1] != info.n_channels:
        raise DataError(f"{path}: {split}_images has {array.shape[-1]} channels; {info.name} has {info.n_channels}")
    if array.dtype != np.uint8:
        raise DataError(f"{path}: {split}_images has dtype {array.dtype}; expected uint8")
    if len(array) == 0:
        raise DataError(f"{path}: split '{split}' is empty")
    return array


def _check_labels(path: Path, split: str, array: np.ndarray, info: DatasetInfo, n_images: int) -> np.ndarray:
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.equal(np.mod(array, 1), 0).all():
            raise DataError(f"{path}: {split}_labels has non-integer values (dtype {array.dtype}); expected class indices")
    array = array.astype(np.int64)
    if len(array) != n_images:
        raise DataError(f"{path}: {split}_labels has {len(array)} rows but {split}_images has {n_images}")
    if info.task == "multi-label":
        if array.ndim != 2 or array.shape[1] != info.n_classes:
            raise DataError(f"{path}: {split}_labels has shape {array.shape}; expected (N, {info.n_classes})")
        if not np.isin(array, (0, 1)).all():
            raise DataError(f"{path}: {split}_labels holds values other than 0/1 for a multi-label task")
        return array
    array = array.reshape(len(array), -1)
    if array.shape[1] != 1:
        raise DataError(f"{path}: {split}_labels has shape {array.shape}; expected (N, 1)")
    array = array[:, 0]
    bad = (array < 0) | (array >= info.n_classes)
    if bad.any():
        raise DataError(
            f"{path}: {split}_labels has {int(bad.sum())} label(s) out of range, e.g. {int(array[bad][0])}; "
            f"expected 0..{info.n_classes - 1}"
        )
    return array


def _make_loader(info: DatasetInfo):
    def load(data_dir: Path | None, size: int) -> ImageSplits:
        path = locate(info.name, size, data_dir)
        if path.stat().st_size <= MD5_CHECK_MAX_BYTES and md5sum(path) != expected_md5(info.name, size):
            warnings.warn(f"{path} is not the official {file_name(info.name, size)} (MD5 differs)", stacklevel=2)
        splits = read_npz(path, info, size)
        counts = {split: len(images) for split, images in splits.images.items()}
        return ImageSplits(info=replace(info, splits=counts), images=splits.images, labels=splits.labels)

    return load


def _register_all() -> None:
    for name, entry in catalog()["datasets"].items():
        info = DatasetInfo(
            name=name,
            task=entry["task"],
            n_channels=entry["n_channels"],
            labels=tuple(str(label) for label in entry["labels"]),
            splits=dict(entry["splits"]),
            license=entry["license"],
            description=entry["description"],
            sizes=VOLUME_SIZES if entry.get("spatial_dims", 2) == 3 else SIZES,
            modality=entry["modality"],
            spatial_dims=entry.get("spatial_dims", 2),
            default_preset="volume" if entry.get("spatial_dims", 2) == 3 else "",
            default_model="fast-cnn-3d" if entry.get("spatial_dims", 2) == 3 else "",
        )
        register_dataset(info, _make_loader(info))


_register_all()
