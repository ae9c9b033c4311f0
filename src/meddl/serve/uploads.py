"""Turning uploaded bytes into a uint8 (H, W, C) image, safely: every bad upload becomes an `UploadError` (a 4xx).

The type is sniffed from the bytes (the client's file name and content type are not trusted): PNG and JPEG by
their signatures, DICOM by the 'DICM' marker or, for files without the 128-byte preamble, a .dcm/.dicom name.
The dimensions are read from the header and checked (zero, too small, too large, too many pixels) before any
pixel is decoded, so a decompression bomb costs a header parse, not gigabytes. Only then does
`meddl.data.imageio.read_image` decode the file, exactly as training and `meddl predict` do.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from meddl.data.decode_budget import MAX_PIXELS  # one pixel budget for every reader
from meddl.errors import DataError

MIN_SIDE, MAX_SIDE = 8, 16_384
# Uploads read, decoded and prepared at once: a 40-megapixel 16-bit PNG costs ~330 MB to decode (8-bit: ~160 MB),
# so requests beyond these wait for a slot instead of multiplying the server's peak memory. The slots are threads
# of their own: the C allocator keeps a freed decode's memory in the arena of the thread that decoded it, so
# decoding in any of the server's 40 request threads let memory grow with the number of threads that ever decoded
# (measured: 4 parallel decodes through 2 semaphore slots peaked 880 MB, as high as 4 at once).
DECODE_SLOTS = 2
_decoder = ThreadPoolExecutor(DECODE_SLOTS, thread_name_prefix="meddl-decode")
PNG_SIGNATURE, JPEG_SIGNATURE = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
DICOM_NAMES = (".dcm", ".dicom")


class UploadError(Exception):
    """An upload that cannot be used; `status` is the HTTP code (always 4xx), `error` a short machine code."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8 (H, W, C), C = 1 or 3; or what `prepare` made of it
    format: str  # PNG, JPEG or DICOM
    width: int  # of the file as sent
    height: int
    channels: int


def sniff(data: bytes, filename: str = "") -> str:
    """PNG, JPEG or DICOM from the bytes themselves; `UploadError` 415 for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(JPEG_SIGNATURE):
        return "JPEG"
    if data[128:132] == b"DICM" or filename.lower().endswith(DICOM_NAMES):
        return "DICOM"
    raise UploadError(415, "unsupported_media_type",
                      f"{filename or 'the upload'} is not a PNG, JPEG or DICOM image (its first bytes, "
                      f"{data[:4].hex(' ')}, match none of their signatures)")


def decode_upload(data: bytes, filename: str = "", max_pixels: int = MAX_PIXELS,
                  prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> DecodedImage:
    """Validate and decode one uploaded image; raises `UploadError` (4xx) for every kind of bad input.

    `prepare` (e.g. the resize to the model's input) runs inside the decode slot, so the full-size pixels never
    outlive it: at most `DECODE_SLOTS` full-size images exist at once, whatever the number of requests.
    """
    return _decoder.submit(_decode_checked, data, filename, max_pixels, prepare).result()


def read_upload(stream: BinaryIO, filename: str = "", max_pixels: int = MAX_PIXELS,
                prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> DecodedImage:
    """`decode_upload` of a spooled upload, read into memory only once a decode slot is free.

    Requests waiting for a slot keep their bodies where the multipart parser spooled them (on disk past 1 MB),
    so waiting requests cost no memory.
    """
    return _decoder.submit(lambda: _decode_checked(stream.read(), filename, max_pixels, prepare)).result()


def _decode_checked(data: bytes, filename: str, max_pixels: int,
                    prepare: Callable[[np.ndarray], np.ndarray] | None) -> DecodedImage:
    name = Path(filename or "upload").name
    if not data:
        raise UploadError(422, "empty_file", f"{name} is empty (0 bytes)")
    kind = sniff(data, name)
    width, height = _header_size(data, kind, name, max_pixels)
    check_dimensions(width, height, name, max_pixels)
    pixels = _decode(data, kind, name)
    del data
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3) or min(pixels.shape[:2]) < 1:
        raise UploadError(422, "invalid_image", f"{name} decoded to an array of shape {pixels.shape}; expected "
                          "(height, width, 1 or 3)")
    height, width, channels = pixels.shape
    check_dimensions(width, height, name, max_pixels)
    return DecodedImage(prepare(pixels) if prepare else pixels, kind, width, height, channels)


def check_dimensions(width: int, height: int, name: str, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise UploadError(422, "empty_image", f"{name} has zero size ({width} x {height} pixels)")
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
        raise UploadError(422, "invalid_dimensions", f"{name} is {width} x {height} pixels; each side must be "
                          f"{MIN_SIDE} to {MAX_SIDE} pixels")
    if width * height > max_pixels:
        raise UploadError(422, "image_too_large", f"{name} is {width} x {height} = {width * height} pixels; "
                          f"the limit is {max_pixels} (refused before decoding)")


def _header_size(data: bytes, kind: str, name: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) from the header only; no pixel data is decoded here."""
    if kind == "PNG" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])  # checked before Pillow, which names no reason for 0
        check_dimensions(width, height, name, max_pixels)
    try:
        if kind == "DICOM":
            return _dicom_header_size(data, name)
        from PIL import Image

        with Image.open(io.BytesIO(data), formats=[kind]) as image:  # reads the header only
            return image.size
    except UploadError:
        raise
    except Exception as error:  # Pillow/pydicom raise many types (SyntaxError, OSError, struct.error, ...)
        message = re.sub(r"cannot identify image file <_io\.BytesIO object at 0x[0-9a-f]+>",
                         "unreadable or incomplete header", str(error))
        raise UploadError(422, "invalid_image", f"{name}: cannot read this {kind} header "
                          f"({type(error).__name__}: {message})") from None


def _dicom_header_size(data: bytes, name: str) -> tuple[int, int]:
    import pydicom

    from meddl.data.decode_budget import check_deflated_dicom

    stream = io.BytesIO(data)
    try:
        check_deflated_dicom(stream, name)
    except DataError as error:
        raise UploadError(422, "image_too_large", str(error)) from None
    ds = pydicom.dcmread(stream, force=True, defer_size=1024)
    if "PixelData" not in ds:
        raise UploadError(422, "no_pixel_data", f"{name} is DICOM but holds no image (no Pixel Data element)")
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    samples = int(ds.get("SamplesPerPixel") or 1)
    if samples not in (1, 3):
        raise UploadError(422, "invalid_dimensions", f"{name} has {samples} samples per pixel; expected 1 or 3")
    return columns, rows


def _decode(data: bytes, kind: str, name: str) -> np.ndarray:
    """Decode with `read_image` (through a private temporary file, since it reads paths); its `DataError`
    messages name the upload instead of the temporary file."""
    from meddl.data.imageio import read_image

    suffix = {"PNG": ".png", "JPEG": ".jpg"}.get(kind, ".dcm")
    handle, temporary = tempfile.mkstemp(prefix="meddl-upload-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return read_image(Path(temporary))  # (no warnings.catch_warnings here: it is not thread-safe)
    except DataError as error:
        raise UploadError(422, "invalid_image", str(error).replace(temporary, name)) from None
    except Exception as error:  # a reader failing in a way read_image does not wrap is still a bad file
        raise UploadError(422, "invalid_image",
                          f"{name}: cannot decode this {kind} file ({type(error).__name__})") from None
    finally:
        os.unlink(temporary)
