"""A small file that would inflate to far more than its size is refused before it is decoded, by `meddl predict`'s
reader and by the HTTP API's upload decoder alike."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, SecondaryCaptureImageStorage

from meddl.data import decode_budget
from meddl.data.imageio import read_image
from meddl.errors import DataError
from meddl.serve.uploads import UploadError, decode_upload


def _deflated_dicom(path, rows: int, columns: int) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = "1.2.3.4"
    ds.set_pixel_data(np.zeros((rows, columns), dtype=np.uint16), "MONOCHROME2", 16)
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


@pytest.fixture
def small_budget(monkeypatch):
    monkeypatch.setattr(decode_budget, "MAX_INFLATED_BYTES", 4 << 20)


def test_a_deflated_dicom_bomb_is_refused_before_pydicom_inflates_it(tmp_path, small_budget, monkeypatch):
    data = _deflated_dicom(tmp_path / "bomb.dcm", 2048, 2048)  # 8 MB of pixels in a file of a few KB
    assert len(data) < 100_000
    real = pydicom.dcmread

    def guarded(*args, **kwargs):
        raise AssertionError("pydicom was asked to inflate the bomb")

    monkeypatch.setattr(pydicom, "dcmread", guarded)
    with pytest.raises(DataError, match="inflates to more than 4 MB.*refused before decoding"):
        read_image(tmp_path / "bomb.dcm")
    with pytest.raises(UploadError) as refused:
        decode_upload(data, "bomb.dcm")
    assert refused.value.status == 422 and "refused before decoding" in refused.value.detail
    monkeypatch.setattr(pydicom, "dcmread", real)


def test_a_deflated_dicom_within_the_budget_still_reads(tmp_path, small_budget):
    data = _deflated_dicom(tmp_path / "small.dcm", 64, 64)
    assert read_image(tmp_path / "small.dcm").shape == (64, 64, 1)
    assert decode_upload(data, "small.dcm").pixels.shape == (64, 64, 1)


def test_too_many_pixels_are_refused_from_the_header(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(decode_budget, "MAX_PIXELS", 100 * 100)
    Image.fromarray(np.zeros((200, 200), dtype=np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(DataError, match="200 x 200 = 40000 pixels; the limit is 10000"):
        read_image(tmp_path / "big.png")


def test_the_server_decodes_at_most_its_slots_at_once(monkeypatch):
    """Parallel uploads wait for a decoding slot, so the server's peak memory is a few decodes, not one per request
    (measured: 4 parallel 40-megapixel 16-bit PNGs took 1183 MB with 4 at once, 616-666 MB with 2)."""
    import io
    import threading
    import time

    from PIL import Image

    from meddl.serve import uploads

    active, peak, lock = [0], [0], threading.Lock()

    def slow_decode(data, kind, name):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return np.zeros((16, 16, 1), dtype=np.uint8)

    monkeypatch.setattr(uploads, "_decode", slow_decode)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(buffer, format="PNG")
    threads = [threading.Thread(target=decode_upload, args=(buffer.getvalue(), "x.png")) for _ in range(6)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert peak[0] == uploads.DECODE_SLOTS


def test_an_upload_is_read_and_prepared_inside_its_decoding_slot():
    """From reading the spooled body to the resize to the model's input, the full-size image exists only inside
    a slot: 8 parallel uploads never hold more than DECODE_SLOTS bodies or full-size images at once."""
    import io
    import threading
    import time

    from PIL import Image

    from meddl.serve import uploads

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save(buffer, format="PNG")
    alive, peak, lock = [0], [0], threading.Lock()

    class Body(io.BytesIO):
        def read(self, *args):  # the body comes into memory: a full-size image's life begins
            with lock:
                alive[0] += 1
                peak[0] = max(peak[0], alive[0])
            return super().read(*args)

    def prepare(pixels):  # the resize: only the small image leaves the slot
        time.sleep(0.05)
        with lock:
            alive[0] -= 1
        return pixels[:8, :8]

    results = []
    threads = [threading.Thread(target=lambda: results.append(uploads.read_upload(Body(buffer.getvalue()), "x.png",
                                                                                  prepare=prepare)))
               for _ in range(8)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert peak[0] == uploads.DECODE_SLOTS
    assert [(r.width, r.height, r.channels, r.pixels.shape) for r in results] == [(64, 64, 1, (8, 8, 1))] * 8
