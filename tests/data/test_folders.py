"""A user's own images: folders of classes and CSVs, their seeded stratified split, and every bad input."""

from __future__ import annotations

import csv
import shutil
import warnings
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from helpers import write_dicom

import meddl.data.folders as folders
from meddl.data import load_dataset
from meddl.data.folders import SPLIT_FILE, load_user_images
from meddl.errors import DataError


def write_png(path: Path, value: int, shape=(12, 10)) -> Path:
    """A constant image, so that each sample can be told apart after resizing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, dtype=np.uint8)).save(path)
    return path


def make_classes(root: Path, counts: dict[str, int], shape=(12, 10)) -> Path:
    value = 0
    for name, count in counts.items():
        for i in range(count):
            write_png(root / name / f"{i:03d}.png", value % 256, shape)
            value += 1
    return root


def read_split_file(path: Path) -> dict[str, str]:
    with open(path, newline="") as handle:
        return {row["path"]: row["split"] for row in csv.DictReader(handle)}


def check_alignment(data) -> None:
    """Each sample's pixels and label belong to the file named in sources."""
    for split, sources in data.sources.items():
        for image, label, source in zip(data.images[split], data.labels[split], sources):
            assert data.info.labels[label] == Path(source).parent.name
            assert int(image.mean()) == int(np.asarray(Image.open(source)).mean())


def test_folder_of_classes_is_split_70_10_20_per_class(tmp_path):
    root = make_classes(tmp_path / "xrays", {"normal": 20, "pneumonia": 10})
    (root / "normal" / ".DS_Store").write_bytes(b"\0\1junk")
    (root / "normal" / "._000.png").write_bytes(b"\0\5\26\7 AppleDouble resource fork")  # unzipped on a Mac
    (root / "normal" / "notes.txt").write_text("not an image")
    write_png(root / ".ipynb_checkpoints" / "000.png", 0)
    write_png(root / "normal" / ".thumbnails" / "000.png", 0)
    data = load_user_images(root, size=16, seed=0)
    assert data.info.name == "xrays" and data.info.task == "binary" and data.info.n_channels == 1
    assert data.info.labels == ("normal", "pneumonia") and data.info.sizes == (16,)
    assert data.info.splits == {"train": 21, "val": 3, "test": 6}
    for split, per_class in {"train": [14, 7], "val": [2, 1], "test": [4, 2]}.items():
        assert data.images[split].shape == (data.info.splits[split], 16, 16, 1)
        assert data.labels[split].dtype == np.int64
        assert np.bincount(data.labels[split]).tolist() == per_class
    check_alignment(data)
    recorded = read_split_file(root / SPLIT_FILE)
    assert len(recorded) == 30 and Counter(recorded.values()) == {"train": 21, "val": 3, "test": 6}


def test_split_is_seeded_and_reused(tmp_path):
    first = make_classes(tmp_path / "a", {"x": 15, "y": 12, "z": 9})
    twin, other = tmp_path / "b", tmp_path / "c"
    shutil.copytree(first, twin)
    shutil.copytree(first, other)
    load_user_images(first, size=8, seed=3)
    load_user_images(twin, size=8, seed=3)
    load_user_images(other, size=8, seed=4)
    assert (first / SPLIT_FILE).read_bytes() == (twin / SPLIT_FILE).read_bytes()
    assert read_split_file(first / SPLIT_FILE) != read_split_file(other / SPLIT_FILE)
    # A hand-edited split is honoured, and an existing file wins over a new seed.
    recorded = read_split_file(first / SPLIT_FILE)
    moved = next(key for key, split in recorded.items() if split == "train")
    text = (first / SPLIT_FILE).read_text().replace(f"{moved},x,train", f"{moved},x,test")
    (first / SPLIT_FILE).write_text(text)
    again = load_user_images(first, size=8, seed=99)
    assert str(first / moved) in again.sources["test"]
    assert (first / SPLIT_FILE).read_text() == text


def test_changed_files_make_a_new_split_with_a_warning(tmp_path):
    root = make_classes(tmp_path / "d", {"x": 5, "y": 5})
    load_user_images(root, size=8, seed=0)
    write_png(root / "y" / "new.png", 200)
    with pytest.warns(UserWarning, match="other files"):
        data = load_user_images(root, size=8, seed=0)
    assert sum(data.info.splits.values()) == 11 and "y/new.png" in read_split_file(root / SPLIT_FILE)


def test_unwritable_folder_keeps_the_split_in_the_cache(tmp_path, monkeypatch):
    root = make_classes(tmp_path / "ro", {"x": 4, "y": 4})
    monkeypatch.setenv("MEDDL_CACHE_DIR", str(tmp_path / "cache"))
    real_open = folders.open_temporary

    def refuse_data_folder(target, *args, **kwargs):  # the tests run as root, so chmod would not stop writes
        if Path(target).parent == root:
            raise PermissionError(13, "Permission denied", str(target.parent))
        return real_open(target, *args, **kwargs)

    monkeypatch.setattr(folders, "open_temporary", refuse_data_folder)
    with pytest.warns(UserWarning, match="cannot write"):
        first = load_user_images(root, size=8, seed=0)
    cached = list((tmp_path / "cache" / "splits").glob(f"*{SPLIT_FILE}"))
    assert not (root / SPLIT_FILE).exists() and len(cached) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # found in the cache: nothing to write, nothing to warn about
        assert load_user_images(root, size=8, seed=5).sources == first.sources


def test_tiny_classes_still_split(tmp_path):
    data = load_user_images(make_classes(tmp_path / "t", {"a": 3, "b": 3, "c": 3, "d": 1}), size=8, seed=0)
    assert data.info.task == "multi-class" and data.info.splits == {"train": 7, "val": 1, "test": 2}
    with pytest.raises(DataError, match="at least 3"):
        load_user_images(make_classes(tmp_path / "u", {"a": 1, "b": 1}), size=8, seed=0)


def test_given_train_val_test_folders_are_used_as_is(tmp_path):
    root = tmp_path / "given"
    for split, count in {"train": 4, "val": 2, "test": 3}.items():
        make_classes(root / split, {"10": count, "2": 1})
    data = load_user_images(root, size=8, seed=0)
    assert data.info.splits == {"train": 5, "val": 3, "test": 4}
    assert data.info.labels == ("2", "10")  # numeric class names sort as numbers
    assert all("/val/" in source for source in data.sources["val"])
    assert not (root / SPLIT_FILE).exists()
    shutil.rmtree(root / "val")
    with pytest.raises(DataError, match="lacks val"):
        load_user_images(root, size=8, seed=0)


def test_mixed_formats_in_one_folder(tmp_path):
    root = make_classes(tmp_path / "mixed", {"a": 3, "b": 3})
    write_dicom(root / "a" / "scan.dcm", np.arange(16, dtype=np.uint16).reshape(4, 4))
    write_dicom(root / "b" / "IM0001", np.arange(16, dtype=np.uint16).reshape(4, 4))  # no suffix: DICM marker
    # a 2D NIfTI image (a 3D volume among 2D images is refused: tests/data/test_volume_folders.py)
    nib.save(nib.Nifti1Image(np.ones((5, 5, 1), np.float32), np.eye(4)), root / "b" / "slice.nii.gz")
    Image.fromarray(np.full((9, 9), 50, np.uint8)).save(root / "a" / "photo.jpg")
    data = load_user_images(root, size=8, seed=0)
    assert sum(data.info.splits.values()) == 10 and data.info.n_channels == 1


def test_rgb_folder_through_load_dataset(tmp_path):
    root = tmp_path / "derm"
    for i in range(6):
        write_png(root / ("mel" if i % 2 else "nevus") / f"{i}.png", 0, shape=(20, 30, 3))
    data = load_dataset(str(root), size=12, seed=1)
    assert data.info.n_channels == 3 and data.images["train"].shape[1:] == (12, 12, 3)


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_csv_single_label_with_relative_and_absolute_paths(tmp_path):
    for i in range(10):
        write_png(tmp_path / "img" / f"{i}.png", i * 10)
    rows = [f"img/{i}.png,{'sick' if i < 4 else 'well'}" for i in range(9)] + [f"{tmp_path / 'img' / '9.png'},well"]
    data = load_user_images(write_csv(tmp_path / "labels.csv", "path,label", rows), size=8, seed=0)
    assert data.info.name == "labels" and data.info.task == "binary" and data.info.labels == ("sick", "well")
    assert sum(data.info.splits.values()) == 10
    assert len(read_split_file(tmp_path / f"labels.{SPLIT_FILE}")) == 10
    for split, sources in data.sources.items():
        for label, source in zip(data.labels[split], sources):
            assert label == (0 if int(Path(source).stem) < 4 else 1)


def test_csv_multi_label_and_split_column(tmp_path):
    cells = ["a|b", "b", "a;c", "", "c", "a"]
    splits = ["train", "train", "train", "val", "test", "test"]
    for i in range(6):
        write_png(tmp_path / f"{i}.png", i)
    rows = [f"{i}.png,{cell},{split}" for i, (cell, split) in enumerate(zip(cells, splits))]
    data = load_user_images(write_csv(tmp_path / "findings.csv", "path,label,split", rows), size=8, seed=0)
    assert data.info.task == "multi-label" and data.info.labels == ("a", "b", "c")
    assert data.info.splits == {"train": 3, "val": 1, "test": 2}
    assert data.labels["train"].tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert data.labels["val"].tolist() == [[0, 0, 0]]
    assert not (tmp_path / f"findings.{SPLIT_FILE}").exists()


def test_csv_multi_label_without_split_is_split_and_saved(tmp_path):
    for i in range(12):
        write_png(tmp_path / f"{i}.png", i)
    rows = [f"{i}.png,{'a|b' if i % 3 == 0 else 'b' if i % 3 == 1 else 'c'}" for i in range(12)]
    data = load_user_images(write_csv(tmp_path / "m.csv", "path,label", rows), size=8, seed=0)
    assert data.labels["train"].shape[1] == 3 and sum(data.info.splits.values()) == 12
    assert read_split_file(tmp_path / f"m.{SPLIT_FILE}")["0.png"] in ("train", "val", "test")


# --- bad inputs: each names the file or folder at fault ------------------------------------------------------------


def test_truncated_png_in_a_class_folder(tmp_path):
    root = make_classes(tmp_path / "r", {"a": 3, "b": 3})
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(root / "b" / "broken.png")
    (root / "b" / "broken.png").write_bytes((root / "b" / "broken.png").read_bytes()[:300])
    with pytest.raises(DataError, match="broken.png"):
        load_user_images(root, size=8, seed=0)


@pytest.mark.parametrize("kind", ["random", "truncated"])
def test_corrupt_dicom_in_a_class_folder(tmp_path, kind):
    root = make_classes(tmp_path / "r", {"a": 3, "b": 3})
    path = write_dicom(root / "a" / "bad.dcm", np.arange(1024, dtype=np.uint16).reshape(32, 32))
    data = path.read_bytes()
    path.write_bytes(np.random.default_rng(0).bytes(3000) if kind == "random" else data[: len(data) - 500])
    with pytest.raises(DataError, match="bad.dcm"):
        load_user_images(root, size=8, seed=0)


def test_mixed_channel_counts_name_one_file_of_each(tmp_path):
    root = make_classes(tmp_path / "r", {"a": 3, "b": 3})
    write_png(root / "b" / "colour.png", 9, shape=(12, 10, 3))
    with pytest.raises(DataError, match="channel") as raised:
        load_user_images(root, size=8, seed=0)
    assert "colour.png" in str(raised.value) and "000.png" in str(raised.value)
    assert not (root / "meddl_split.csv").exists()  # a failed load writes nothing beside the data


def test_empty_class_folder_and_no_images(tmp_path):
    root = make_classes(tmp_path / "r", {"a": 3, "b": 3})
    (root / "c").mkdir()
    (root / "c" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DataError, match=f"{root / 'c'}: class folder holds no images"):
        load_user_images(root, size=8, seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_user_images(tmp_path / "empty", size=8, seed=0)
    with pytest.raises(DataError, match="no such folder"):
        load_user_images(tmp_path / "absent", size=8, seed=0)


def test_csv_errors(tmp_path):
    for i in range(3):
        write_png(tmp_path / f"{i}.png", i)
    missing = write_csv(tmp_path / "missing.csv", "path,label", ["0.png,a", "1.png,b", "gone.png,a"])
    with pytest.raises(DataError, match=r"line 4: .*gone\.png"):
        load_user_images(missing, size=8, seed=0)
    no_label = write_csv(tmp_path / "nolabel.csv", "path,diagnosis", ["0.png,a", "1.png,b"])
    with pytest.raises(DataError, match="nolabel.csv: missing column.*label"):
        load_user_images(no_label, size=8, seed=0)
    bad_split = write_csv(tmp_path / "split.csv", "path,label,split", ["0.png,a,train", "1.png,b,holdout"])
    with pytest.raises(DataError, match="split.csv, line 3: split 'holdout'"):
        load_user_images(bad_split, size=8, seed=0)
    one_class = write_csv(tmp_path / "one.csv", "path,label", ["0.png,a", "1.png,a", "2.png,a"])
    with pytest.raises(DataError, match="at least 2 classes"):
        load_user_images(one_class, size=8, seed=0)
