"""A user's own volumes: NIfTI files (`.nii`, `.nii.gz`) and DICOM series (a folder of slices,
`meddl.data.dicom_series`) read as whole 3D volumes, decoded once into an on-disk cache.

Each volume is reoriented to RAS (nibabel's closest canonical orientation) and laid out as (D, H, W) = (inferior to
superior, posterior to anterior, left to right), so that its first axis indexes axial slices; it is scaled to uint8 by
its own range (as meddl reads NIfTI images in 2D: a NIfTI file carries no window), and resized to `size` voxels a
side with area averaging (trilinear when enlarging), keeping the whole field of view.

Decoding a CT volume costs far more than reading its small result, so the result is kept under
`~/.cache/meddl/volumes/` as one `.npy` file named by the sha256 of the file's bytes (of a series: its slice files'
names and bytes) and the transform: a second run decodes nothing, and a changed file is decoded again. Each cache file is written to a temporary
name and renamed, so an interrupted run never leaves half a volume behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from meddl.atomic import open_temporary
from meddl.data.download import default_cache_dir
from meddl.errors import DataError

VOLUME_SUFFIXES = (".nii", ".nii.gz")
CACHE_VERSION = 1  # bump when the decoding changes, so that old cache files are not reused
MAX_VOXELS = 1024**3 // 4  # a float32 volume of at most 1 GiB while it is decoded (e.g. 512 x 512 x 1024)


def is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(VOLUME_SUFFIXES)


def spatial_shape(path: Path) -> tuple[int, ...]:
    """The shape of a NIfTI file from its header, trailing axes of length 1 dropped (a (X, Y, Z, 1) file is 3D)."""
    import nibabel as nib

    try:
        shape = tuple(int(side) for side in nib.load(path).shape)
    except Exception as error:  # nibabel raises its own types, and OSError/EOFError for a truncated file
        raise DataError(f"{path}: cannot read this NIfTI file ({type(error).__name__}: {error})") from error
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def is_volume_file(path: Path) -> bool:
    """True for a DICOM series folder, or a NIfTI file of three or more dimensions whose first three sides are
    longer than 1: a volume, or a 4D series that `decode_volume` then refuses by name. An unreadable NIfTI file is
    a DataError naming it."""
    from meddl.data.dicom_series import is_series_folder

    if Path(path).is_dir():
        return is_series_folder(Path(path))
    if not is_nifti(path):
        return False
    shape = spatial_shape(path)
    return len(shape) >= 3 and min(shape[:3]) > 1


def read_volume(path: Path, size: int) -> np.ndarray:
    """The volume in `path` (a NIfTI file or a DICOM series folder) as uint8 (size, size, size, 1), from the cache
    when this file or series was decoded before."""
    from meddl.data.dicom_series import dicom_files

    path = Path(path)
    digest = _digest(dicom_files(path) if path.is_dir() else [path])
    cached = default_cache_dir() / "volumes" / f"{digest}-{size}-v{CACHE_VERSION}.npy"
    if cached.is_file():
        try:
            volume = np.load(cached, allow_pickle=False)
            if volume.shape == (size, size, size, 1) and volume.dtype == np.uint8:
                return volume
        except (OSError, ValueError):
            pass  # an unreadable cache file is decoded again and replaced
    volume = decode_volume(path, size)
    _save_atomically(cached, volume)
    return volume


def decode_volume(path: Path, size: int) -> np.ndarray:
    """Decode, reorient, scale and resize one NIfTI volume or DICOM series (see the module docstring); one-line
    errors name the file and what is wrong with it."""
    import nibabel as nib

    if Path(path).is_dir():
        from meddl.data.dicom_series import read_series

        values, affine = read_series(Path(path), MAX_VOXELS)
        return _laid_out(nib.Nifti1Image(values, affine), size)
    shape = spatial_shape(path)
    if len(shape) == 4:
        raise DataError(f"{path}: a 4D NIfTI file of shape {shape}; expected one 3D volume (save each time point or "
                        "channel as its own file)")
    if len(shape) != 3 or min(shape) < 2:
        raise DataError(f"{path}: a {len(shape)}D image of shape {shape} in a dataset of 3D volumes")
    if int(np.prod(shape)) > MAX_VOXELS:
        raise DataError(f"{path}: {' x '.join(map(str, shape))} = {int(np.prod(shape))} voxels; the limit is "
                        f"{MAX_VOXELS} (a 1 GiB float32 volume while decoding; refused before decoding)")
    try:
        return _laid_out(nib.load(path), size)
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{path}: cannot read this NIfTI file ({type(error).__name__}: {error})") from error


def _laid_out(image, size: int) -> np.ndarray:
    """A nibabel image as uint8 (size, size, size, 1): RAS, then (z, y, x) so that axial slices come first, as
    MedMNIST 3D and the report's planes expect; scaled by its own range and resized."""
    import nibabel as nib

    from meddl.data.imageio import resize_volume, to_uint8

    image = nib.as_closest_canonical(image)
    data = np.asarray(image.dataobj, dtype=np.float32).reshape(image.shape[:3])
    volume = to_uint8(np.ascontiguousarray(data.transpose(2, 1, 0)))[..., None]
    return resize_volume(volume, size)


def _digest(paths: list[Path]) -> str:
    """sha256 of the files' names and bytes, in order (one file: its bytes and name)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as error:
            raise DataError(f"{path}: cannot read this file ({error})") from error
    return digest.hexdigest()[:32]


def _save_atomically(target: Path, volume: np.ndarray) -> None:
    """Write `volume` as `target` (.npy) through a temporary file; a cache that cannot be written only costs the
    next run a decode."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = open_temporary(target)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as out:
            np.save(out, volume, allow_pickle=False)
        os.replace(temporary, target)
    except OSError:
        pass
    finally:
        Path(temporary).unlink(missing_ok=True)
