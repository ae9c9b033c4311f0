"""How much an image file may cost to decode, checked before it is decoded: every reader (training folders,
`meddl predict`, the HTTP API) goes through these, so a small file that would inflate to gigabytes is refused at
the price of a header read.

- pixels: at most `MAX_PIXELS` per image (frame), from the header;
- a deflated DICOM (transfer syntax 1.2.840.10008.1.2.1.99): pydicom inflates the whole dataset before any element
  can be read, so the stream is first inflated here in bounded steps and refused past `MAX_INFLATED_BYTES`;
- a DICOM's one decoded frame (rows x columns x samples x bits allocated) at most `MAX_FRAME_BYTES`.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from meddl.errors import DataError

MAX_PIXELS = 40_000_000  # e.g. 6300 x 6300: above full-field mammography, far below a bomb
MAX_INFLATED_BYTES = 256 << 20
MAX_FRAME_BYTES = MAX_PIXELS * 3 * 2  # 40 MP, 3 samples of 16 bits
DEFLATED = "1.2.840.10008.1.2.1.99"
_STEP = 1 << 20


def check_pixels(width: int, height: int, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise DataError(f"{name} is {width} x {height} = {width * height} pixels; the limit is {MAX_PIXELS} "
                        "(refused before decoding)")


def check_deflated_dicom(stream: BinaryIO, name: str) -> None:
    """Refuse a deflated DICOM that inflates past `MAX_INFLATED_BYTES`, before pydicom inflates it. `stream` is at
    the start of the file; it is left there. Files of any other transfer syntax pass untouched."""
    start = stream.tell()
    try:
        head = stream.read(132 + 12)
        if head[128:132] != b"DICM" or head[132:136] != b"\x02\x00\x00\x00":
            return  # no Part 10 file meta: not deflated (deflation is declared there)
        group_length = struct.unpack("<I", head[140:144])[0]
        meta = stream.read(group_length)
        if DEFLATED.encode() not in meta:
            return
        inflater, total = zlib.decompressobj(-zlib.MAX_WBITS), 0
        while chunk := stream.read(_STEP):
            while chunk:
                total += len(inflater.decompress(chunk, _STEP))
                if total > MAX_INFLATED_BYTES:
                    raise DataError(f"{name}: a deflated DICOM that inflates to more than "
                                    f"{MAX_INFLATED_BYTES >> 20} MB (a decompression bomb?); refused before decoding")
                chunk = inflater.unconsumed_tail
    except zlib.error as error:
        raise DataError(f"{name}: a deflated DICOM whose data does not inflate ({error})") from None
    finally:
        stream.seek(start)


def check_dicom_frame(dataset, name: str) -> None:
    """Refuse a DICOM whose one decoded frame would exceed the budget, from its header (before pixel decoding)."""
    rows, columns = int(dataset.get("Rows") or 0), int(dataset.get("Columns") or 0)
    check_pixels(columns, rows, name)
    samples, bits = int(dataset.get("SamplesPerPixel") or 1), int(dataset.get("BitsAllocated") or 16)
    size = rows * columns * samples * max(bits, 8) // 8
    if size > MAX_FRAME_BYTES:
        raise DataError(f"{name}: one frame of {rows} x {columns} x {samples} samples of {bits} bits is "
                        f"{size >> 20} MB; the limit is {MAX_FRAME_BYTES >> 20} MB (refused before decoding)")
