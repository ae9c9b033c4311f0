"""The user's own MedMNIST-layout .npz: train/val/test images and labels, optionally `label_names`.

This is the layout `meddl gan sample` writes, so a synthetic set trains like any dataset. The task is read from
the labels (binary for two classes, multi-class above, multi-label for (N, L) 0/1 rows); channels from the image
shape; images of another side than `size` are resized. Cubes (N, S, S, S[, C]), as MedMNIST 3D stores them, are
volumes (an (N, S, S, S) array is read as volumes, not as S-channel images).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from meddl.data.types import SPLITS, DatasetInfo, ImageSplits
from meddl.errors import DataError

REQUIRED = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))


def holds_volumes(path: str | Path) -> bool:
    """Whether the .npz at `path` holds volumes, read from its train_images header alone (the arrays stay on disk);
    False for anything unreadable, which `load_npz` then reports."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("train_images.npy") as member:
            version = np.lib.format.read_magic(member)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape = reader(member)[0]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return False
    return _are_volumes(shape)


def _are_volumes(shape: tuple[int, ...]) -> bool:
    return len(shape) == 5 or (len(shape) == 4 and shape[3] not in (1, 3) and shape[1] == shape[2] == shape[3])


def load_npz(path: str | Path, size: int = 28) -> ImageSplits:
    """Every split of the .npz at `path`, validated, with images at `size` x `size`."""
    from meddl.data.medmnist import read_npz

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            missing = [key for key in REQUIRED if key not in keys]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)}; a MedMNIST-layout file holds "
                                f"{', '.join(REQUIRED)} (found {', '.join(sorted(keys)) or 'none'})")
            shape = archive["train_images"].shape
            labels = [archive[f"{split}_labels"] for split in SPLITS]
            names = [str(name) for name in archive["label_names"]] if "label_names" in keys else None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    volumes = _are_volumes(shape)
    if volumes and (len(shape) == 5 and not shape[1] == shape[2] == shape[3]):
        raise DataError(f"{path}: train_images has shape {shape}; expected (N, S, S, S[, C]) cubes")
    if not volumes and (len(shape) not in (3, 4) or shape[1] != shape[2]):
        raise DataError(f"{path}: train_images has shape {shape}; expected (N, S, S[, C]) square images or "
                        "(N, S, S, S[, C]) cubes")
    multi_label = labels[0].ndim == 2 and labels[0].shape[1] > 1
    if names is None:
        count = labels[0].shape[1] if multi_label else int(max(int(np.max(a, initial=0)) for a in labels)) + 1
        names = [str(index) for index in range(count)]
    task = "multi-label" if multi_label else ("binary" if len(names) == 2 else "multi-class")
    dims = 3 if volumes else 2
    info = DatasetInfo(name=path.stem, task=task, n_channels=shape[dims + 1] if len(shape) == dims + 2 else 1,
                       labels=tuple(names), splits={}, license="user data", sizes=(size,),
                       description=f"MedMNIST-layout file {path}", spatial_dims=dims,
                       default_preset="volume" if volumes else "", default_model="fast-cnn-3d" if volumes else "")
    splits = read_npz(path, info, shape[1])
    if shape[1] != size:
        from meddl.data.imageio import resize_image, resize_volume

        resize = resize_volume if volumes else resize_image
        splits.images = {split: np.stack([resize(image, size) for image in images])
                         for split, images in splits.images.items()}
    splits.info = DatasetInfo(**{**info.__dict__, "splits": {s: len(v) for s, v in splits.images.items()}})
    return splits
