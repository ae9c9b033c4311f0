"""MedMNIST 2D: the registry entries, the real PneumoniaMNIST, files in MedMNIST layout, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import meddl.data.medmnist as medmnist
from meddl.data import dataset_info, list_datasets, load_dataset
from meddl.errors import DataError

MEDMNIST_2D = {
    "pathmnist": "multi-class",
    "chestmnist": "multi-label",
    "dermamnist": "multi-class",
    "octmnist": "multi-class",
    "pneumoniamnist": "binary",
    "retinamnist": "ordinal",
    "breastmnist": "binary",
    "bloodmnist": "multi-class",
    "tissuemnist": "multi-class",
    "organamnist": "multi-class",
    "organcmnist": "multi-class",
    "organsmnist": "multi-class",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test here may reach Zenodo: downloads go to a closed local port, the cache to an empty folder."""
    monkeypatch.setenv("MEDDL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MEDDL_DATA_DIR", raising=False)
    monkeypatch.setattr(medmnist, "file_url", lambda name, size: f"http://127.0.0.1:1/{name}_{size}.npz")


def test_registry_lists_the_twelve_2d_sets():
    infos = {info.name: info for info in list_datasets() if info.name.endswith("mnist")}
    assert {name: info.task for name, info in infos.items()} == MEDMNIST_2D
    assert all(info.sizes == (28, 64, 128, 224) for info in infos.values())
    assert dataset_info("ChestMNIST").n_classes == 14 and dataset_info("pathmnist").n_channels == 3
    assert dataset_info("retinamnist").labels == ("0", "1", "2", "3", "4")


def test_real_pneumoniamnist_has_the_official_splits(shared_medmnist, monkeypatch):
    monkeypatch.setenv("MEDDL_DATA_DIR", str(shared_medmnist.parent))  # found in its medmnist/ sub-folder
    data = load_dataset("pneumoniamnist")
    assert {split: len(images) for split, images in data.images.items()} == {"train": 4708, "val": 524, "test": 624}
    assert data.images["train"].shape[1:] == (28, 28, 1) and data.images["train"].dtype == np.uint8
    assert data.labels["test"].dtype == np.int64 and set(np.unique(data.labels["train"])) == {0, 1}
    assert np.bincount(data.labels["train"]).tolist() == [1214, 3494]


def write_npz(path: Path, size: int, channels: int, n_classes: int, multi_label: bool = False, **override):
    """A tiny file in MedMNIST layout; `override` replaces (or, with None, drops) named arrays."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in {"train": 4, "val": 2, "test": 3}.items():
        shape = (n, size, size) if channels == 1 else (n, size, size, channels)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        labels = rng.integers(0, 2, (n, n_classes)) if multi_label else rng.integers(0, n_classes, (n, 1))
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    arrays.update(override)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return arrays


@pytest.mark.filterwarnings("ignore:.*MD5 differs")
@pytest.mark.parametrize(
    ("name", "size", "channels", "n_classes", "multi_label"),
    [("breastmnist", 64, 1, 2, False), ("chestmnist", 128, 1, 14, True), ("pathmnist", 224, 3, 9, False)],
)
def test_files_in_medmnist_layout_load_at_every_size(tmp_path, name, size, channels, n_classes, multi_label):
    arrays = write_npz(tmp_path / f"{name}_{size}.npz", size, channels, n_classes, multi_label)
    data = load_dataset(name, size=size, data_dir=tmp_path)
    assert data.image_size == (size, size) and data.images["val"].shape == (2, size, size, channels)
    expected = arrays["test_labels"] if multi_label else arrays["test_labels"][:, 0]
    assert np.array_equal(data.labels["test"], expected)
    assert data.labels["train"].shape == ((4, n_classes) if multi_label else (4,))


def test_a_non_official_file_is_used_with_a_warning(tmp_path):
    write_npz(tmp_path / "breastmnist_64.npz", 64, 1, 2)
    with pytest.warns(UserWarning, match="MD5 differs"):
        load_dataset("breastmnist", size=64, data_dir=tmp_path)


@pytest.mark.filterwarnings("ignore:.*MD5 differs")
@pytest.mark.parametrize(
    ("name", "size", "change", "message"),
    [
        ("breastmnist", 64, {"val_labels": None}, "missing array 'val_labels'"),
        ("breastmnist", 64, {"test_labels": np.array([[0], [2], [1]], np.uint8)}, "out of range"),
        ("pathmnist", 64, {"train_images": np.zeros((4, 64, 64), np.uint8)}, "has 1 channels; pathmnist has 3"),
        ("breastmnist", 64, {"val_images": np.zeros((2, 28, 28), np.uint8)}, r"expected \(N, 64, 64"),
        ("chestmnist", 28, {"train_labels": np.zeros((4, 1), np.uint8)}, r"expected \(N, 14\)"),
    ],
)
def test_bad_files_name_themselves(tmp_path, name, size, change, message):
    channels = 3 if name == "pathmnist" else 1
    n_classes = {"breastmnist": 2, "pathmnist": 9, "chestmnist": 14}[name]
    path = tmp_path / medmnist.file_name(name, size)
    write_npz(path, size, channels, n_classes, multi_label=name == "chestmnist", **change)
    with pytest.raises(DataError, match=message) as raised:
        load_dataset(name, size=size, data_dir=tmp_path)
    assert str(path) in str(raised.value)


@pytest.mark.filterwarnings("ignore:.*MD5 differs")
def test_truncated_file_names_itself(tmp_path):
    path = tmp_path / "breastmnist_128.npz"
    write_npz(path, 128, 1, 2)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=f"{path}: not a readable .npz"):
        load_dataset("breastmnist", size=128, data_dir=tmp_path)


def test_unknown_name_and_size_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'brestmnist'"):
        load_dataset("brestmnist")
    with pytest.raises(DataError, match="size 32 is not offered"):
        load_dataset("breastmnist", size=32, data_dir=tmp_path)
