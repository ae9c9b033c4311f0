"""The user's own MedMNIST-layout .npz: train/val/test images and labels, optionally `label_names`.

This is the layout `meddl gan sample` writes, so a synthetic set trains like any dataset. The task is read from
the labels (binary for two classes, multi-class above, multi-label for (N, L) 0/1 rows); channels from the image
shape; images of another side than `size` are resized.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from meddl.data.types import SPLITS, DatasetInfo, ImageSplits
from meddl.errors import DataError

REQUIRED = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))


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
    if len(shape) not in (3, 4) or shape[1] != shape[2]:
        raise DataError(f"{path}: train_images has shape {shape}; expected (N, S, S[, C]) square images")
    multi_label = labels[0].ndim == 2 and labels[0].shape[1] > 1
    if names is None:
        count = labels[0].shape[1] if multi_label else int(max(int(np.max(a, initial=0)) for a in labels)) + 1
        names = [str(index) for index in range(count)]
    task = "multi-label" if multi_label else ("binary" if len(names) == 2 else "multi-class")
    info = DatasetInfo(name=path.stem, task=task, n_channels=shape[3] if len(shape) == 4 else 1,
                       labels=tuple(names), splits={}, license="user data", sizes=(size,),
                       description=f"MedMNIST-layout file {path}")
    splits = read_npz(path, info, shape[1])
    if shape[1] != size:
        from meddl.data.imageio import resize_image

        splits.images = {split: np.stack([resize_image(image, size) for image in images])
                         for split, images in splits.images.items()}
    splits.info = DatasetInfo(**{**info.__dict__, "splits": {s: len(v) for s, v in splits.images.items()}})
    return splits
