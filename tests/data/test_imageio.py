"""Decoding single files: PNG/JPEG modes, DICOM rescale/window/MONOCHROME1/frames, NIfTI slices, bad files."""

from __future__ import annotations

import numpy as np
import pydicom
import pydicom.examples
import pytest
from helpers import write_dicom
from PIL import Image

from meddl.data.imageio import read_image, resize_image
from meddl.errors import DataError

nib = pytest.importorskip("nibabel")


def minmax(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    return np.rint((values - values.min()) / (values.max() - values.min()) * 255).astype(np.uint8)


# --- Pillow formats -----------------------------------------------------------------------------------------------


def test_png_grey_and_rgb_are_read_exactly(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgb = np.arange(36, dtype=np.uint8).reshape(3, 4, 3) * 7
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert np.array_equal(read_image(tmp_path / "g.png"), grey[..., None])
    assert np.array_equal(read_image(tmp_path / "c.png"), rgb)


def test_16bit_images_are_scaled_by_their_bit_depth_not_their_own_range(tmp_path):
    """The same pixels saved as an 8-bit and as a 16-bit PNG or TIFF (v * 257) are the same input: a 16-bit file is
    not stretched to its own minimum and maximum (which made a dim radiograph look like a bright one)."""
    grey = np.array([[0, 40], [90, 130]], dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "x8.png")
    for suffix in ("png", "tif"):
        Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / f"x16.{suffix}")
        image = read_image(tmp_path / f"x16.{suffix}")
        assert image.dtype == np.uint8 and np.array_equal(image, read_image(tmp_path / "x8.png"))
    Image.fromarray(np.array([[1000, 65535]], dtype=np.uint16)).save(tmp_path / "y.png")
    assert read_image(tmp_path / "y.png")[..., 0].tolist() == [[4, 255]]  # 1000 / 257 = 3.89


def test_alpha_and_palette_images_are_converted(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((2, 2), 77, np.uint8)).convert("LA").save(tmp_path / "la.png")
    colours = np.zeros((2, 2, 3), np.uint8)
    colours[0] = (250, 10, 10)
    Image.fromarray(colours).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    grey_palette = Image.fromarray(np.array([[0, 1], [2, 3]], np.uint8), mode="P")
    grey_palette.putpalette([0, 0, 0, 80, 80, 80, 160, 160, 160, 240, 240, 240])
    grey_palette.save(tmp_path / "grey_p.png")
    assert read_image(tmp_path / "rgba.png")[..., 0].tolist() == [[200, 200], [200, 200]]
    assert read_image(tmp_path / "rgba.png").shape == (2, 2, 3)
    assert read_image(tmp_path / "la.png").tolist() == [[[77], [77]], [[77], [77]]]
    assert read_image(tmp_path / "p.png").tolist() == [[[250, 10, 10]] * 2, [[0, 0, 0]] * 2]
    assert read_image(tmp_path / "grey_p.png").tolist() == [[[0], [80]], [[160], [240]]]


def test_jpeg_is_read_as_rgb_and_grey(tmp_path):
    Image.fromarray(np.full((8, 8, 3), (200, 100, 50), np.uint8)).save(tmp_path / "c.jpg", quality=95)
    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(tmp_path / "g.jpeg", quality=95)
    colour, grey = read_image(tmp_path / "c.jpg"), read_image(tmp_path / "g.jpeg")
    assert colour.shape == (8, 8, 3) and np.abs(colour.astype(int) - (200, 100, 50)).max() <= 3
    assert grey.shape == (8, 8, 1) and np.abs(grey.astype(int) - 128).max() <= 3


def test_resize_keeps_dtype_and_channels():
    grey = np.random.default_rng(0).integers(0, 256, (30, 50, 1), dtype=np.uint8)
    assert resize_image(grey, 16).shape == (16, 16, 1)
    assert resize_image(np.repeat(grey, 3, axis=2), 64).dtype == np.uint8
    assert resize_image(np.full((5, 7, 3), 42, np.uint8), 9).tolist() == np.full((9, 9, 3), 42).tolist()


# --- DICOM --------------------------------------------------------------------------------------------------------


def test_dicom_rescale_then_window(tmp_path):
    stored = np.array([[0, 50], [100, 200]], dtype=np.uint16)
    path = write_dicom(tmp_path / "a.dcm", stored, RescaleSlope=2, RescaleIntercept=-100, WindowCenter=100,
                       WindowWidth=201)
    # Hounsfield -100, 0, 100, 300. LINEAR window c=100, w=201: below -0.5 -> 0, above 199.5 -> 255,
    # else ((x - 99.5) / 200 + 0.5) * 255: 0 -> 0.64 -> 1, 100 -> 128.1 -> 128.
    assert read_image(path)[..., 0].tolist() == [[0, 1], [128, 255]]


def test_dicom_signed_ct_with_several_windows_uses_the_first(tmp_path):
    stored = np.array([[24, 1024], [1064, 2024]], dtype=np.uint16)
    path = write_dicom(tmp_path / "ct.dcm", stored, RescaleSlope=1, RescaleIntercept=-1024,
                       WindowCenter=[40, 400], WindowWidth=[400, 2000])
    # HU -1000, 0, 40, 1000 in a soft-tissue window 40/400: ((x - 39.5) / 399 + 0.5) * 255 -> 102.26, 127.82
    assert read_image(path)[..., 0].tolist() == [[0, 102], [128, 255]]


def test_an_8_bit_dicom_reads_as_the_same_pixels_in_a_png(tmp_path):
    """Same pixels, same input: an 8-bit windowless DICOM is not stretched to its own range (a PNG is not)."""
    pixels = np.random.default_rng(0).integers(40, 200, size=(16, 16), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    dicom = write_dicom(tmp_path / "x.dcm", pixels, bits=8)
    assert np.array_equal(read_image(dicom), read_image(tmp_path / "x.png"))
    assert read_image(dicom)[..., 0].min() == 40


def test_dicom_without_window_is_min_max_and_monochrome1_is_inverted(tmp_path):
    stored = np.array([[0, 51], [204, 255]], dtype=np.uint16)
    plain = write_dicom(tmp_path / "m2.dcm", stored + 1000)
    inverted = write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1")
    assert read_image(plain)[..., 0].tolist() == [[0, 51], [204, 255]]
    assert read_image(inverted)[..., 0].tolist() == [[255, 204], [51, 0]]


def test_dicom_multi_frame_gives_the_middle_frame(tmp_path):
    ramp = np.array([[0, 10], [20, 30]], dtype=np.uint16)
    frames = np.stack([ramp, ramp[::-1, ::-1], ramp])  # the middle frame is the only reversed one
    path = write_dicom(tmp_path / "cine.dcm", frames)
    assert read_image(path)[..., 0].tolist() == [[255, 170], [85, 0]]


def test_dicom_rgb_is_kept_and_found_without_suffix(tmp_path):
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20
    path = write_dicom(tmp_path / "IM0001", rgb, photometric="RGB", bits=8)
    assert np.array_equal(read_image(path), rgb)


def test_bundled_pydicom_files():
    # pydicom.examples are files shipped in the wheel (get_testdata_file may try the network for others).
    ct = pydicom.examples.ct  # CT_small.dcm: signed, rescaled, no window
    hounsfield = ct.pixel_array * float(ct.RescaleSlope) + float(ct.RescaleIntercept)
    assert "WindowCenter" not in ct
    assert np.array_equal(read_image(ct.filename)[..., 0], minmax(hounsfield))
    colour = pydicom.examples.rgb_color
    assert np.array_equal(read_image(colour.filename), colour.pixel_array)
    palette = pydicom.examples.palette_color
    assert read_image(palette.filename).shape == (palette.Rows, palette.Columns, 3)


# --- NIfTI --------------------------------------------------------------------------------------------------------


def test_nifti_2d_and_3d_middle_slice(tmp_path):
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(6, 5)).astype(np.float32)
    volume = rng.normal(size=(6, 5, 7)).astype(np.float32)
    nib.save(nib.Nifti1Image(flat, np.eye(4)), tmp_path / "flat.nii")
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "vol.nii.gz")
    assert np.array_equal(read_image(tmp_path / "flat.nii")[..., 0], minmax(flat))
    assert np.array_equal(read_image(tmp_path / "vol.nii.gz")[..., 0], minmax(volume[:, :, 3]))


def test_nifti_volume_is_reoriented_so_the_slice_is_axial(tmp_path):
    volume = np.random.default_rng(1).normal(size=(7, 5, 6)).astype(np.float32)
    # Voxel axis 0 runs inferior-superior here, so the axial middle slice is volume[3], seen as (x, y).
    axes_swapped = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    nib.save(nib.Nifti1Image(volume, axes_swapped), tmp_path / "sag.nii.gz")
    assert np.array_equal(read_image(tmp_path / "sag.nii.gz")[..., 0], minmax(volume[3].T))


# --- bad files ----------------------------------------------------------------------------------------------------


def _truncate(path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize("name", ["a.png", "a.jpg"])
def test_truncated_pillow_file_raises_data_error(tmp_path, name):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / name)
    path = _truncate(tmp_path / name)
    with pytest.raises(DataError, match=name):
        read_image(path)


def test_random_bytes_dicom_raises_data_error(tmp_path):
    path = tmp_path / "junk.dcm"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="junk.dcm"):
        read_image(path)


def test_truncated_dicom_raises_data_error(tmp_path):
    path = write_dicom(tmp_path / "cut.dcm", np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    _truncate(path, keep=0.6)
    with pytest.raises(DataError, match="cut.dcm"):
        read_image(path)


def test_truncated_nifti_and_empty_png_and_unknown_type(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((20, 20, 20), np.float32), np.eye(4)), tmp_path / "v.nii.gz")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello")
    for name in ("v.nii.gz", "empty.png", "notes.txt"):
        path = _truncate(tmp_path / name) if name == "v.nii.gz" else tmp_path / name
        with pytest.raises(DataError, match=name.replace(".", r"\.")):
            read_image(path)
