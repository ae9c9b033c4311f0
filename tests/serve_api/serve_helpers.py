"""What the serving tests share: one tiny trained model per session, and image files as bytes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

_CACHE: dict = {}
KEY = "test-key-0123456789"
# The staged data beside the checkout (as tests/conftest.py has it; not imported: "conftest" names several modules).
SHARED_MEDMNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "medmnist"


def trained_checkpoint(tmp_path_factory) -> Path:
    """A meddl checkpoint trained for one epoch on BreastMNIST (once per session), with metrics.json beside it."""
    if "checkpoint" not in _CACHE:
        if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
            pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")
        from meddl.api import train

        run = tmp_path_factory.mktemp("serve_model") / "run"
        result = train("breastmnist", run, data_dir=SHARED_MEDMNIST, epochs=1, bootstrap=30, progress=False)
        _CACHE["checkpoint"] = Path(result.checkpoint)
    return _CACHE["checkpoint"]


def served_model(tmp_path_factory, backend: str = "onnx", onnx_only: bool = False):
    """A loaded `ServedModel` (cached: exporting and loading take seconds); `onnx_only` serves the bare .onnx."""
    from meddl.serve.service import load_served_model

    key = ("served", backend, onnx_only)
    if key not in _CACHE:
        checkpoint = trained_checkpoint(tmp_path_factory)
        if onnx_only:
            served_model(tmp_path_factory, "onnx")  # writes best.onnx beside the checkpoint
            _CACHE[key] = load_served_model(checkpoint.with_suffix(".onnx"), "onnx")
        else:
            _CACHE[key] = load_served_model(checkpoint, backend)
    return _CACHE[key]


def sample_images(n: int = 4) -> np.ndarray:
    """Real BreastMNIST test images, uint8 (n, 28, 28)."""
    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")
    with np.load(SHARED_MEDMNIST / "breastmnist.npz") as archive:
        return archive["test_images"][:n]


def png_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", **options)
    return buffer.getvalue()


def jpeg_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def dicom_bytes(tmp_path: Path, array: np.ndarray, **tags) -> bytes:
    from helpers import write_dicom

    path = write_dicom(tmp_path / "scan.dcm", array.astype(np.uint16) * 16, RescaleSlope=1, RescaleIntercept=0, **tags)
    return path.read_bytes()


def dicom_without_pixels(tmp_path: Path) -> bytes:
    """A valid DICOM file (a structured report, say) that holds no image."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientName = "Anonymous"
    path = tmp_path / "report.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A grey 8-bit PNG with the IHDR saying width x height, built by hand so the header can say anything (zero,
    huge); the IDAT holds `rows` rows of zeros (all of them by default), compressed as any encoder would."""
    rows = height if rows is None else rows
    compressor = zlib.compressobj(9)
    line = b"\x00" * (width + 1)  # filter byte + pixels
    block = line * max(1, min(rows, (1 << 22) // max(len(line), 1)))
    idat, done = [], 0
    while done < rows:
        count = min(rows - done, len(block) // len(line))
        idat.append(compressor.compress(block[: count * len(line)]))
        done += count
    idat.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(idat)) + _chunk(b"IEND", b"")
