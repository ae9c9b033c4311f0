"""A user's folder of NIfTI volumes (issue 17): read as 3D volumes in a canonical orientation, decoded once into an
on-disk cache, refused in one line when a file is not one clean 3D volume, and trained end to end."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pytest

from meddl.data import volumes as volume_io
from meddl.data.folders import load_user_images
from meddl.data.registry import dataset_defaults
from meddl.errors import DataError

SIDE = 12


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test decodes into its own cache folder."""
    monkeypatch.setenv("MEDDL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def ct_like(seed: int, bright: bool) -> np.ndarray:
    """A (X, Y, Z) float32 volume in Hounsfield-like units: air around a soft-tissue body; the "bright" class holds
    a dense (bone-like) blob."""
    rng = np.random.default_rng(seed)
    volume = np.full((SIDE, SIDE, SIDE), -1000.0, np.float32)
    volume[2:-2, 2:-2, 2:-2] = 40 + rng.normal(0, 10, (SIDE - 4,) * 3)
    if bright:
        x, y, z = rng.integers(3, SIDE - 5, 3)
        volume[x : x + 3, y : y + 3, z : z + 3] = 900
    return volume


def save_nifti(path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    """A NIfTI file with a realistic header: 0.8 x 0.8 x 2.5 mm voxels, RAS axes unless `affine` says otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([0.8, 0.8, 2.5, 1.0]) if affine is None else affine
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm", "sec")
    nib.save(image, path)


def volume_folder(root, n_per_class: int = 10):
    for index in range(2 * n_per_class):
        bright = index % 2 == 1
        save_nifti(root / ("lesion" if bright else "clear") / f"case{index:02d}.nii.gz", ct_like(index, bright))
    return root


def test_a_folder_of_nifti_volumes_loads_as_volumes_and_picks_a_3d_model(tmp_path):
    root = volume_folder(tmp_path / "ct")
    assert dataset_defaults(str(root)) == ("volume", "fast-cnn-3d")
    data = load_user_images(root, size=8, seed=0)
    assert data.info.spatial_dims == 3 and data.info.labels == ("clear", "lesion")
    assert sum(len(v) for v in data.images.values()) == 20
    assert all(images.shape[1:] == (8, 8, 8, 1) and images.dtype == np.uint8 for images in data.images.values())


def test_the_axes_follow_the_header_not_the_array_order(tmp_path):
    """The same anatomy stored left-right flipped (an LAS affine, as many DICOM converters write) and with its
    axes permuted decodes to the same RAS volume, laid out (inferior-superior, posterior-anterior, left-right)."""
    data = ct_like(3, bright=True)
    data[0, 5, 6] = 2000  # a marker at x = 0 (the patient's left edge in RAS), y = 5, z = 6
    save_nifti(tmp_path / "ras.nii.gz", data)
    flipped = np.diag([-0.8, 0.8, 2.5, 1.0])
    flipped[0, 3] = 0.8 * (SIDE - 1)
    save_nifti(tmp_path / "las.nii.gz", data[::-1].copy(), flipped)
    permuted = np.zeros((4, 4))
    permuted[0, 1], permuted[1, 0], permuted[2, 2], permuted[3, 3] = 0.8, 0.8, 2.5, 1  # array axes (y, x, z)
    save_nifti(tmp_path / "yxz.nii.gz", data.transpose(1, 0, 2).copy(), permuted)
    decoded = [volume_io.decode_volume(tmp_path / name, SIDE) for name in ("ras.nii.gz", "las.nii.gz", "yxz.nii.gz")]
    np.testing.assert_array_equal(decoded[0], decoded[1])
    np.testing.assert_array_equal(decoded[0], decoded[2])
    assert decoded[0][6, 5, 0, 0] == 255  # (z, y, x): the marker at x = 0, y = 5, z = 6


def test_a_second_load_decodes_nothing_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch, private_cache):
    root = volume_folder(tmp_path / "ct", n_per_class=3)
    first = load_user_images(root, size=8, seed=0)
    assert len(list((private_cache / "volumes").glob("*.npy"))) == 6

    def no_decoding(path, size):
        raise AssertionError(f"decoded {path} again")

    real_decode = volume_io.decode_volume
    monkeypatch.setattr(volume_io, "decode_volume", no_decoding)
    again = load_user_images(root, size=8, seed=0)
    for split in first.images:
        np.testing.assert_array_equal(first.images[split], again.images[split])
    changed = root / "clear" / "case00.nii.gz"
    save_nifti(changed, ct_like(99, bright=True))
    decoded = []
    monkeypatch.setattr(volume_io, "decode_volume", lambda path, size: decoded.append(path) or real_decode(path, size))
    load_user_images(root, size=8, seed=0)
    assert decoded == [changed]


@pytest.mark.parametrize("case, message", [
    ("4d", r"bad\.nii\.gz: a 4D NIfTI file of shape \(12, 12, 12, 3\); expected one 3D volume"),
    ("corrupt", r"bad\.nii\.gz: cannot read this NIfTI file"),
    ("truncated", r"bad\.nii\.gz: cannot read this NIfTI file"),
])
def test_a_bad_volume_is_named_in_one_line_and_nothing_is_left_behind(tmp_path, private_cache, case, message):
    root = volume_folder(tmp_path / "ct", n_per_class=3)
    bad = root / "clear" / "bad.nii.gz"
    if case == "4d":
        save_nifti(bad, np.zeros((SIDE, SIDE, SIDE, 3), np.float32))
    elif case == "corrupt":
        bad.write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    else:
        save_nifti(bad, ct_like(7, bright=False))
        bad.write_bytes(bad.read_bytes()[:600])
    with pytest.raises(DataError, match=message):
        load_user_images(root, size=8, seed=0)
    assert not (root / "meddl_split.csv").exists()
    leftovers = [p.name for p in (private_cache / "volumes").glob("*")] if (private_cache / "volumes").exists() else []
    assert all(name.endswith(".npy") and not name.startswith(".") for name in leftovers), leftovers


def test_a_2d_image_among_volumes_is_refused_naming_both(tmp_path):
    root = volume_folder(tmp_path / "ct", n_per_class=3)
    save_nifti(root / "lesion" / "slice.nii.gz", np.zeros((SIDE, SIDE), np.float32))
    with pytest.raises(DataError, match=r"mixes 6 3D volume\(s\) \(e\.g\. .*case\d+\.nii\.gz\) with 1 2D image\(s\) "
                                        r"\(e\.g\. .*slice\.nii\.gz\)"):
        load_user_images(root, size=8, seed=0)


def test_a_volume_too_large_to_decode_is_refused_before_decoding(tmp_path, monkeypatch):
    save_nifti(tmp_path / "big.nii.gz", ct_like(1, bright=False))
    monkeypatch.setattr(volume_io, "MAX_VOXELS", SIDE**3 - 1)
    with pytest.raises(DataError, match=r"big\.nii\.gz: 12 x 12 x 12 = 1728 voxels; the limit is 1727"):
        volume_io.decode_volume(tmp_path / "big.nii.gz", 8)


def test_a_folder_of_nifti_volumes_trains_evaluates_and_exports(tmp_path):
    import meddl
    from meddl.serve.export import export_onnx

    root = volume_folder(tmp_path / "ct", n_per_class=20)
    result = meddl.train(str(root), tmp_path / "run", size=16, epochs=10, batch_size=8, bootstrap=20,
                         progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["model"] == "fast-cnn-3d" and metrics["config"]["size"] == 16
    assert result.metrics["test"]["auc"] >= 0.8  # the dense blob is plain to see
    assert export_onnx(tmp_path / "run" / "checkpoints" / "best.ckpt", tmp_path / "ct.onnx").max_abs_diff <= 1e-4
