"""A DICOM series (a folder of CT or MR slices) as one volume.

The slices are checked to form one clean volume: one SeriesInstanceUID, one orientation, one slice size; they are
ordered by their position along the slice normal (ImagePositionPatient projected on the cross product of the
ImageOrientationPatient directions), never by file name, and the gaps between them must be equal (a missing
slice shows as a gap twice the others, a duplicated one as a gap of zero). Stored values become physical units
(rescale slope and intercept). The volume's affine, built from the positions, orientation and pixel spacing in
DICOM's LPS patient frame, is turned into RAS so that the volume is laid out exactly as a NIfTI volume of the same
anatomy is (`meddl.data.volumes`).

Hand-written on pydicom rather than MONAI's `LoadImage`: the checks above must fail with a message naming the
folder and the slice, which a generic reader does not give.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meddl.errors import DataError

SPACING_TOLERANCE = 0.01  # relative difference allowed between slice gaps (scanners round positions to ~0.001 mm)
MIN_SLICES = 2


def dicom_files(folder: Path) -> list[Path]:
    """The DICOM files directly inside `folder` (by suffix or the DICM marker), hidden files skipped."""
    from meddl.data.imageio import is_image_file, is_dicom_file

    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p) and is_dicom_file(p))


def is_series_folder(folder: Path) -> bool:
    """True for a folder of at least two DICOM slices that carry a position and orientation in the patient (the
    first slice is read, without its pixels): a series of a CT or MR volume rather than a set of 2D images."""
    import pydicom

    if not folder.is_dir():
        return False
    files = dicom_files(folder)
    if len(files) < MIN_SLICES:
        return False
    try:
        first = pydicom.dcmread(files[0], stop_before_pixels=True, force=True)
    except Exception:
        return False
    return "ImagePositionPatient" in first and "ImageOrientationPatient" in first


def read_series(folder: Path, max_voxels: int) -> tuple[np.ndarray, np.ndarray]:
    """(values float32 (slices, rows, columns), RAS affine 4x4) of the series in `folder`; a DataError naming the
    folder (and the slice) for a series that is not one clean volume, or of more than `max_voxels` voxels (checked
    before any pixel is decoded)."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, pixel_array

    from meddl.data.decode_budget import check_dicom_frame

    files = dicom_files(folder)
    if len(files) < MIN_SLICES:
        raise DataError(f"{folder}: {len(files)} DICOM slice(s); a series needs at least {MIN_SLICES}")
    headers = []
    for path in files:
        try:
            headers.append((path, pydicom.dcmread(path, force=True)))
        except Exception as error:
            raise DataError(f"{path}: cannot read this DICOM file ({type(error).__name__}: {error})") from error
    series = {str(ds.get("SeriesInstanceUID", "")) for _, ds in headers}
    if len(series) > 1:
        raise DataError(f"{folder}: holds {len(series)} series (SeriesInstanceUID {', '.join(sorted(series))}); "
                        "put each series in its own folder")
    for path, ds in headers:
        for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "PixelData"):
            if tag not in ds:
                raise DataError(f"{path}: a slice of the series in {folder} lacks {tag}")
    orientation = np.asarray(headers[0][1].ImageOrientationPatient, dtype=np.float64)
    shape = (int(headers[0][1].Rows), int(headers[0][1].Columns))
    for path, ds in headers[1:]:
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, dtype=np.float64), orientation, atol=1e-4):
            raise DataError(f"{path}: its orientation differs from the other slices of {folder}")
        if (int(ds.Rows), int(ds.Columns)) != shape:
            raise DataError(f"{path}: {ds.Rows} x {ds.Columns} pixels; the other slices of {folder} are "
                            f"{shape[0]} x {shape[1]}")
    voxels = shape[0] * shape[1] * len(headers)
    if voxels > max_voxels:
        raise DataError(f"{folder}: {len(headers)} slices of {shape[0]} x {shape[1]} = {voxels} voxels; the limit is "
                        f"{max_voxels} (refused before decoding)")
    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    positions = np.array([np.dot(np.asarray(ds.ImagePositionPatient, np.float64), normal) for _, ds in headers])
    order = np.argsort(positions, kind="stable")
    positions = positions[order]
    headers = [headers[i] for i in order]
    gaps = np.diff(positions)
    if (gaps < 1e-3).any():
        i = int(np.flatnonzero(gaps < 1e-3)[0])
        raise DataError(f"{folder}: {headers[i][0].name} and {headers[i + 1][0].name} lie at the same position "
                        f"({positions[i]:.3f} mm along the slice normal): a duplicated slice")
    typical = float(np.median(gaps))
    uneven = np.abs(gaps - typical) > SPACING_TOLERANCE * typical
    if uneven.any():
        i = int(np.flatnonzero(uneven)[0])
        missing = round(gaps[i] / typical) - 1
        what = f"{missing} missing slice(s)" if missing >= 1 and abs(gaps[i] - (missing + 1) * typical) <= \
            SPACING_TOLERANCE * typical else "non-uniform slice spacing"
        raise DataError(f"{folder}: {what}: the gap between {headers[i][0].name} and {headers[i + 1][0].name} is "
                        f"{gaps[i]:.3f} mm, the others {typical:.3f} mm")
    slices = []
    for path, ds in headers:
        check_dicom_frame(ds, str(path))
        try:
            slices.append(np.asarray(apply_modality_lut(pixel_array(ds), ds), dtype=np.float32))
        except Exception as error:
            raise DataError(f"{path}: cannot decode this slice ({type(error).__name__}: {error})") from error
    row_spacing, column_spacing = (float(v) for v in headers[0][1].PixelSpacing)
    lps = np.eye(4)
    # array axes (slice, row, column): along the normal, down the columns, along the rows
    lps[:3, 0] = normal * typical
    lps[:3, 1] = column_direction * row_spacing
    lps[:3, 2] = row_direction * column_spacing
    lps[:3, 3] = np.asarray(headers[0][1].ImagePositionPatient, dtype=np.float64)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # DICOM's patient frame is LPS; NIfTI's and nibabel's RAS
    return np.stack(slices), ras
