"""`meddl data verify`: counts, constant images, duplicates and patients across splits, on folders built here."""

import json

import numpy as np
import pytest
from PIL import Image

from meddl.cli import main
from meddl.data.verify import difference_hash, near_pairs

RNG = np.random.default_rng(0)


def textured(seed: int) -> np.ndarray:
    """A distinct 28x28 grey image: smooth random structure, so hashes and pixels differ between seeds."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (7, 7)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((28, 28), Image.BILINEAR))


def write_split_folder(root, per_class: int = 6, patients: bool = False) -> dict:
    """root/{train,val,test}/{a,b}/[patient/]NNN.png of distinct images; returns path per (split, class, i)."""
    paths = {}
    seed = 0
    for split in ("train", "val", "test"):
        for label in ("a", "b"):
            for i in range(per_class):
                seed += 1
                folder = root / split / label / (f"p{seed}" if patients else "")
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{i:03d}.png"
                Image.fromarray(textured(seed)).save(path)
                paths[split, label, i] = path
    return paths


def run_verify(tmp_path, dataset, *extra):
    output = tmp_path / "verify.json"
    code = main(["data", "verify", str(dataset), "--output", str(output), *extra])
    return code, json.loads(output.read_text())


def test_clean_folder_has_no_leakage(tmp_path, capsys):
    write_split_folder(tmp_path / "data")
    code, report = run_verify(tmp_path, tmp_path / "data")
    assert code == 0 and report["leakage"] is False
    assert report["counts"]["train"] == {"samples": 12, "a": 6, "b": 6}
    assert report["exact_duplicates_across_splits"] == report["near_duplicates_across_splits"] == 0
    assert "no leakage found" in capsys.readouterr().out


def test_image_duplicated_across_splits_is_leakage(tmp_path, capsys):
    paths = write_split_folder(tmp_path / "data")
    Image.open(paths["train", "a", 0]).save(paths["test", "b", 3])  # the same scan, in train and in test
    code, report = run_verify(tmp_path, tmp_path / "data")
    assert code == 1 and report["leakage"] is True
    assert report["exact_duplicates_across_splits"] == 1
    finding = next(f for f in report["findings"] if f["kind"] == "exact-duplicate")
    assert any("train" in s and "000.png" in s for s in finding["samples"])
    assert any("test" in s and "003.png" in s for s in finding["samples"])
    assert "LEAKAGE" in capsys.readouterr().out
    code, _ = run_verify(tmp_path, tmp_path / "data", "--warn-only")
    assert code == 0


def test_slightly_altered_copy_is_a_near_duplicate(tmp_path):
    paths = write_split_folder(tmp_path / "data")
    original = np.asarray(Image.open(paths["train", "b", 2])).astype(np.int16)
    noisy = np.clip(original + RNG.integers(-1, 2, original.shape), 0, 255).astype(np.uint8)  # re-encoded copy
    Image.fromarray(noisy).save(paths["val", "a", 1])
    code, report = run_verify(tmp_path, tmp_path / "data")
    assert report["exact_duplicates_across_splits"] == 0
    assert report["near_duplicates_across_splits"] == 1 and code == 1
    # with a pixel tolerance below the noise the pair is not confirmed
    _, strict = run_verify(tmp_path, tmp_path / "data", "--near-mad", "0.1")
    assert strict["near_duplicates_across_splits"] == 0


def test_constant_and_all_zero_images_are_counted(tmp_path):
    paths = write_split_folder(tmp_path / "data")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(paths["test", "a", 0])
    Image.fromarray(np.full((28, 28), 77, np.uint8)).save(paths["val", "b", 0])
    _, report = run_verify(tmp_path, tmp_path / "data")
    assert report["all_zero_images"] == 1 and report["constant_images"] == 1


def test_patient_in_two_splits_is_leakage(tmp_path):
    paths = write_split_folder(tmp_path / "data", patients=True)
    moved = paths["test", "a", 0]
    target = tmp_path / "data" / "test" / "a" / paths["train", "a", 0].parent.name / "999.png"
    target.parent.mkdir(parents=True)
    moved.rename(target)  # a test image filed under a patient who is also in train
    code, report = run_verify(tmp_path, tmp_path / "data")
    assert code == 1 and report["shared_groups"] == 1 and report["group_name"] == "patient"


def test_multi_label_counts_are_per_label(tmp_path):
    root = tmp_path / "csvdata"
    root.mkdir()
    rows = ["path,label,split"]
    for i, (labels, split) in enumerate([("x|y", "train"), ("x", "train"), ("y", "train"), ("x|y", "val"),
                                          ("x", "val"), ("y", "test"), ("x|y", "test")]):
        Image.fromarray(textured(100 + i)).save(root / f"{i}.png")
        rows.append(f"{i}.png,{labels},{split}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    _, report = run_verify(tmp_path, root / "labels.csv")
    assert report["task"] == "multi-label"
    assert report["counts"]["train"] == {"samples": 3, "x": 2, "y": 2}


def test_hash_pairs_within_threshold():
    images = np.stack([textured(s) for s in range(5)])[..., None]
    hashes = difference_hash(images)
    assert hashes.dtype == np.uint64 and len(set(hashes.tolist())) == 5
    pairs = list(near_pairs(hashes, hashes, 0))
    assert sorted((a, b) for a, b, _ in pairs) == [(i, i) for i in range(5)]


def test_real_pneumoniamnist_duplicates_are_found(shared_medmnist, tmp_path):
    code, report = run_verify(tmp_path, "pneumoniamnist", "--data-dir", str(shared_medmnist))
    assert report["counts"]["test"]["samples"] == 624
    # the official splits share byte-identical images; each listed pair really is identical
    assert report["exact_duplicates_across_splits"] > 0 and code == 1
    finding = next(f for f in report["findings"] if f["kind"] == "exact-duplicate")
    with np.load(shared_medmnist / "pneumoniamnist.npz") as archive:
        copies = []
        for sample in finding["samples"]:
            split, index = sample.split("[")[0], int(sample.split("[")[1].split("]")[0])
            copies.append(archive[f"{split}_images"][index])
    assert all(np.array_equal(copies[0], c) for c in copies[1:])


def test_bad_threshold_is_a_clear_error(tmp_path, capsys):
    write_split_folder(tmp_path / "data", per_class=1)
    assert main(["data", "verify", str(tmp_path / "data"), "--near-bits", "40"]) == 2
    assert "0..16 bits" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["no_such_dataset"])
def test_unknown_dataset(missing, capsys):
    assert main(["data", "verify", missing]) == 2
    assert "unknown dataset" in capsys.readouterr().err
