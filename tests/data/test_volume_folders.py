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


def write_series(folder, hu: np.ndarray, series_uid: str = "1.2.826.0.1.3680043.8.498.1", thickness: float = 2.5,
                 positions: list[float] | None = None, names: list[str] | None = None) -> None:
    """A CT series as a scanner writes it: one file per slice of `hu` (slices, rows, columns), in Hounsfield units
    stored as unsigned 12-bit values with intercept -1024, axial orientation, 0.7 mm pixels; file names that do not
    follow the slice order unless `names` say so."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    positions = positions if positions is not None else [-100.0 + k * thickness for k in range(len(hu))]
    rng = np.random.default_rng(len(hu))
    names = names or [f"IM{index:04d}" for index in rng.permutation(len(hu))]  # no suffix, shuffled
    for k, (plane, z) in enumerate(zip(hu, positions)):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        ds.Modality, ds.PatientID, ds.SeriesInstanceUID = "CT", "anon", series_uid
        ds.ImagePositionPatient = [-40.0, -30.0, z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], thickness
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.set_pixel_data((np.asarray(plane) + 1024).astype(np.uint16), "MONOCHROME2", 16)
        ds.BitsStored, ds.HighBit = 12, 11
        ds.save_as(folder / names[k], enforce_file_format=True)


def ct_series(seed: int, bright: bool) -> np.ndarray:
    """(slices, rows, columns) whole HU: `ct_like` laid out as a scanner stores it."""
    return np.rint(ct_like(seed, bright).transpose(2, 1, 0))


def test_a_shuffled_dicom_series_reads_as_the_same_volume_as_its_nifti(tmp_path):
    """Slices are ordered by position, not name; DICOM's LPS frame is turned to RAS, so the series and a NIfTI file
    of the same anatomy decode to the same volume."""
    hu = ct_series(5, bright=True)
    hu[3, 2, 9] = 1500  # one marked voxel: slice 3, row 2, column 9
    write_series(tmp_path / "series", hu)
    slices, rows, columns = hu.shape
    # the same anatomy in RAS: x runs to the patient's right (DICOM columns run to the left), y to anterior
    # (DICOM rows run to posterior), z up the slices
    ras = hu.transpose(2, 1, 0)[::-1, ::-1, :].copy()
    save_nifti(tmp_path / "same.nii.gz", ras, np.diag([0.7, 0.7, 2.5, 1.0]))
    series = volume_io.decode_volume(tmp_path / "series", SIDE)
    nifti = volume_io.decode_volume(tmp_path / "same.nii.gz", SIDE)
    np.testing.assert_array_equal(series, nifti)
    assert series[3, rows - 1 - 2, columns - 1 - 9, 0] == 255  # (z, y, x) of the marked voxel


@pytest.mark.parametrize("fault, message", [
    ("missing", r"series: 1 missing slice\(s\): the gap between IM\d+ and IM\d+ is 5\.000 mm, the others 2\.500 mm"),
    ("duplicate", r"series: IM\d+ and IM\d+ lie at the same position .*: a duplicated slice"),
    ("uneven", r"series: non-uniform slice spacing: the gap between IM\d+ and IM\d+ is 3\.300 mm"),
    ("mixed", r"series: holds 2 series \(SeriesInstanceUID .*\); put each series in its own folder"),
])
def test_a_broken_series_is_refused_naming_the_folder_and_slices(tmp_path, private_cache, fault, message):
    hu = ct_series(2, bright=False)
    positions = [-100.0 + k * 2.5 for k in range(len(hu))]
    if fault == "missing":
        hu, positions = np.delete(hu, 4, axis=0), positions[:4] + positions[5:]
    elif fault == "duplicate":
        positions[6] = positions[5]
    elif fault == "uneven":
        positions = positions[:5] + [p + 0.8 for p in positions[5:]]
    write_series(tmp_path / "series", hu, positions=positions)
    if fault == "mixed":
        write_series(tmp_path / "series", ct_series(3, False)[:3], series_uid="1.2.826.0.1.3680043.8.498.2",
                     names=["X1", "X2", "X3"])
    with pytest.raises(DataError, match=message):
        volume_io.read_volume(tmp_path / "series", 8)
    assert not (private_cache / "volumes").exists() or not list((private_cache / "volumes").iterdir())


def test_a_folder_of_dicom_series_trains_and_a_second_load_decodes_no_slice(tmp_path, monkeypatch):
    import meddl
    from meddl.data import dicom_series

    root = tmp_path / "ct"
    for index in range(40):
        bright = index % 2 == 1
        write_series(root / ("lesion" if bright else "clear") / f"patient{index:02d}" / "series", ct_series(index, bright),
                     series_uid=f"1.2.826.0.1.3680043.8.498.{index + 10}")
    assert dataset_defaults(str(root)) == ("volume", "fast-cnn-3d")
    result = meddl.train(str(root), tmp_path / "run", size=16, epochs=10, batch_size=8, bootstrap=20,
                         progress=False)
    assert result.metrics["model"] == "fast-cnn-3d" and result.metrics["test"]["auc"] >= 0.8
    groups = load_user_images(root, size=16, seed=0).groups
    assert groups["train"][0].startswith("patient")  # class/patient/series: the patient folder is the group

    def no_decoding(folder, max_voxels):
        raise AssertionError(f"decoded {folder} again")

    monkeypatch.setattr(dicom_series, "read_series", no_decoding)
    load_user_images(root, size=16, seed=0)


def test_a_csv_may_name_series_folders_and_nifti_files_together(tmp_path):
    rows = ["path,label"]
    for index in range(6):
        bright = index % 2 == 1
        if index < 3:
            write_series(tmp_path / f"s{index}", ct_series(index, bright), series_uid=f"1.2.3.{index}")
            rows.append(f"s{index},{'lesion' if bright else 'clear'}")
        else:
            save_nifti(tmp_path / f"v{index}.nii.gz", ct_like(index, bright))
            rows.append(f"v{index}.nii.gz,{'lesion' if bright else 'clear'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    data = load_user_images(tmp_path / "labels.csv", size=8, seed=0)
    assert data.info.spatial_dims == 3 and sum(len(v) for v in data.images.values()) == 6
