"""Reading one medical image file into a uint8 (H, W, C) array, whatever its format.

Every format ends in the same place (8-bit, C = 1 or 3) so that a folder mixing PNG, DICOM and NIfTI trains like
MedMNIST. Intensities are mapped to 8 bits so that the same pixels give the same input in any format: 8-bit values
as they are (PNG, JPEG, 8-bit DICOM alike); PNG and TIFF of more bits by the range of their bit depth (65535 ->
255, so a 16-bit copy of an 8-bit image reads the same); DICOM through its rescale and window where it has one, a
windowless DICOM of more than 8 bits and NIfTI by their own range (their declared depth says little about the
values used). Any file that cannot be read raises `DataError` naming it, so one bad file among thousands is easy
to find.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from meddl.errors import DataError

PILLOW_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DICOM_SUFFIXES: tuple[str, ...] = (".dcm", ".dicom")
NIFTI_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz")
IMAGE_SUFFIXES: tuple[str, ...] = PILLOW_SUFFIXES + DICOM_SUFFIXES + NIFTI_SUFFIXES

_DICOM_MAGIC_OFFSET = 128


def read_image(path: Path) -> np.ndarray:
    """Read a PNG, JPEG, BMP, TIFF, DICOM or NIfTI file as uint8 (H, W, C) with C = 1 or 3.

    DICOM files are recognised by suffix or by the 'DICM' marker, since scanners often write them without one.
    """
    path = Path(path)
    kind = _kind(path)
    if kind is None:
        raise DataError(f"{path}: unsupported image type; expected one of {', '.join(IMAGE_SUFFIXES)} or DICOM")
    try:
        array = {"pillow": _read_pillow, "dicom": _read_dicom, "nifti": _read_nifti}[kind](path)
    except DataError:
        raise
    except Exception as error:
        # The readers raise a zoo of types for bad files (OSError, ValueError, EOFError, zlib.error,
        # InvalidDicomError, ImageFileError, ...); the user needs the file name, not the library's traceback.
        label = {"dicom": "DICOM", "nifti": "NIfTI"}.get(kind, path.suffix.lstrip(".").upper())
        raise DataError(f"{path}: cannot read this {label} file ({type(error).__name__}: {error})") from error
    if array.ndim == 2:
        array = array[..., None]
    return np.ascontiguousarray(array)


def is_dicom_file(path: Path) -> bool:
    """True for a DICOM file, by suffix or by the 'DICM' marker."""
    return _kind(Path(path)) == "dicom"


def is_image_file(path: Path) -> bool:
    """True for a readable image type; hidden files (.DS_Store, ._* from macOS) never count."""
    return not path.name.startswith(".") and _kind(path) is not None


def resize_image(array: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (H, W, C) to (size, size, C) with antialiased bicubic interpolation.

    The whole field of view is kept (a finding at the border is not cropped away), at the cost of aspect ratio.
    """
    if array.shape[:2] == (size, size):
        return array
    channels = array.shape[2]
    image = Image.fromarray(array[..., 0] if channels == 1 else array)
    resized = np.array(image.resize((size, size), Image.Resampling.BICUBIC))
    return resized[..., None] if channels == 1 else resized


def resize_volume(array: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (D, H, W, C) to (size, size, size, C): area averaging when shrinking (every voxel counts, no
    aliasing), trilinear interpolation when enlarging. As for images, the whole field of view is kept."""
    if array.shape[:3] == (size,) * 3:
        return array
    import torch
    from torch.nn import functional as F

    volume = torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, 0))).float()[None]
    shrinking = all(side >= size for side in array.shape[:3])
    resized = F.interpolate(volume, size=(size,) * 3, mode="area" if shrinking else "trilinear",
                            **({} if shrinking else {"align_corners": False}))
    return np.moveaxis(resized[0].round().clamp(0, 255).to(torch.uint8).numpy(), 0, -1)


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Map values linearly so that their own minimum is 0 and maximum 255; NaN/inf count as the minimum."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, dtype=np.uint8)
    low, high = values[finite].min(), values[finite].max()
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (np.where(finite, values, low) - low) * (255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(PILLOW_SUFFIXES):
        return "pillow"
    if name.endswith(DICOM_SUFFIXES):
        return "dicom"
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    return "dicom" if _has_dicom_marker(path) else None


def _has_dicom_marker(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(_DICOM_MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _read_pillow(path: Path) -> np.ndarray:
    from meddl.data.decode_budget import check_pixels

    with Image.open(path) as image:
        check_pixels(*image.size, str(path))  # from the header: nothing is decoded yet
        image = ImageOps.exif_transpose(image)  # phone photos (dermatology) store rotation in EXIF
        mode = image.mode
        if mode in ("L", "RGB"):
            return np.array(image)
        if mode in ("1", "LA", "La") or (mode in ("P", "PA") and _grey_palette(image)):
            return np.array(image.convert("L"))
        if mode.startswith("I") or mode == "F":  # 16/32-bit grey, e.g. 16-bit PNG radiographs
            bits = _stored_bits(image)
            if bits is None:  # 32-bit integers or floats: no stored range to scale by
                return to_uint8(np.array(image))
            return by_bit_depth(np.array(image), bits)
        return np.array(image.convert("RGB"))  # RGBA, P, PA, CMYK, YCbCr, ...


def _stored_bits(image: Image.Image) -> int | None:
    """The bit depth an integer grey image was stored with (16 for a 16-bit PNG or TIFF), or None."""
    if image.mode.startswith("I;16"):
        return 16
    declared = image.tag_v2.get(258) if hasattr(image, "tag_v2") else None  # TIFF BitsPerSample
    if isinstance(declared, tuple):
        declared = declared[0]
    if image.format == "PNG" and image.mode == "I":  # older Pillow opens 16-bit grey PNGs as 32-bit "I"
        return 16
    return int(declared) if declared in (8, 10, 12, 14, 16) else None


def by_bit_depth(values: np.ndarray, bits: int) -> np.ndarray:
    """Stored integers of `bits` bits to 0..255 by the range the format can hold, not the image's own: the same
    pixels then give the same input whether saved as 8-bit or 16-bit (2^bits - 1 -> 255)."""
    top = 2**bits - 1
    values = np.asarray(values)
    out = np.empty(values.shape, dtype=np.uint8)
    rows = max(1, (1 << 22) // max(1, values[0].size))  # a few MB of integer temporaries at a time, not 8 bytes a pixel
    for start in range(0, len(values), rows):
        chunk = np.clip(values[start:start + rows], 0, top).astype(np.uint32)
        out[start:start + rows] = (chunk * 255 + top // 2) // top  # round(v * 255 / top), in integers
    return out


def _grey_palette(image: Image.Image) -> bool:
    palette = np.array(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    return bool((palette == palette[:, :1]).all())


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_windowing, pixel_array

    from meddl.data.decode_budget import check_deflated_dicom, check_dicom_frame

    with open(path, "rb") as handle:
        check_deflated_dicom(handle, str(path))
        ds = pydicom.dcmread(handle, force=True)  # force: files without the 128-byte preamble are still DICOM
    if "PixelData" not in ds:
        raise DataError(f"{path}: not a DICOM image (no Pixel Data element)")
    check_dicom_frame(ds, str(path))
    frames = int(ds.get("NumberOfFrames") or 1)
    # Only the middle frame is decoded: for a cine loop or a multi-frame volume it is the most representative.
    frame = pixel_array(ds, index=frames // 2) if frames > 1 else pixel_array(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
    if frame.ndim == 3:  # colour: pydicom has already converted YBR to RGB
        return frame if frame.dtype == np.uint8 else to_uint8(frame)
    values = apply_modality_lut(frame, ds)  # stored values -> physical units (e.g. Hounsfield)
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        windowed = apply_windowing(values, ds)
        # Passing -inf and +inf through the same transform yields its output range, exact for LINEAR,
        # LINEAR_EXACT and SIGMOID windows alike.
        low, high = apply_windowing(np.array([-np.inf, np.inf]), ds)
        image = np.rint((windowed - low) * (255.0 / (high - low))).clip(0, 255).astype(np.uint8)
    elif int(ds.get("BitsStored") or 16) <= 8 and frame.min() >= 0:
        image = frame.astype(np.uint8)  # 8-bit stored values as they are: the same pixels as an 8-bit PNG
    else:
        # Wider values without a window: by their own range, as DICOM viewers show them. Their declared depth is no
        # guide: pydicom's CT_small stores 128..2191 in 16 signed bits, 9 grey levels if scaled by bit depth.
        image = to_uint8(values)
    return 255 - image if photometric == "MONOCHROME1" else image  # MONOCHROME1 shows high values dark


def _read_nifti(path: Path) -> np.ndarray:
    import nibabel as nib

    volume = nib.load(path)
    shape = volume.shape
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 2:
        return to_uint8(np.asarray(volume.dataobj).reshape(shape))
    if len(shape) != 3:
        raise DataError(f"{path}: NIfTI image of shape {volume.shape}; expected a 2D image or a 3D volume")
    # Reorient to RAS so that the third axis is inferior-superior and its middle slice is axial.
    volume = nib.as_closest_canonical(volume)
    middle = volume.shape[2] // 2
    return to_uint8(np.asarray(volume.dataobj[:, :, middle]).reshape(volume.shape[:2]))
