"""Downloads against a local HTTP server: checksum, atomicity, interrupted transfers, and the MedMNIST cache."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import meddl.data.medmnist as medmnist
from meddl.data import load_dataset
from meddl.data.download import download
from meddl.errors import DataError, DownloadError


def tiny_breastmnist() -> bytes:
    """A valid breastmnist.npz in MedMNIST layout with 2-3 images per split."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in {"train": 3, "val": 2, "test": 2}.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8)[:, None]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


PAYLOAD = tiny_breastmnist()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves PAYLOAD at any path; under /short/ it promises the full length but sends half and hangs up."""

    requests: list[str] = []

    def do_GET(self) -> None:
        Handler.requests.append(self.path)
        if self.path.startswith("/missing/"):
            self.send_error(404)
            return
        body = PAYLOAD[: len(PAYLOAD) // 2] if self.path.startswith("/short/") else PAYLOAD
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_matching_checksum_puts_the_file_in_place(server, tmp_path):
    target = tmp_path / "sub" / "file.npz"
    assert download(f"{server}/file.npz", target, PAYLOAD_MD5, progress=False) == target
    assert target.read_bytes() == PAYLOAD
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.npz"]


@pytest.mark.parametrize(
    ("path", "md5", "message"),
    [
        ("/file.npz", "0" * 32, "MD5 mismatch"),
        ("/short/file.npz", PAYLOAD_MD5, "cut short"),
        ("/missing/file.npz", PAYLOAD_MD5, "404"),
    ],
)
def test_failed_download_leaves_nothing(server, tmp_path, path, md5, message):
    with pytest.raises(DownloadError, match=message):
        download(f"{server}{path}", tmp_path / "file.npz", md5, timeout=5, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a .part file


@pytest.fixture
def medmnist_from(monkeypatch, tmp_path):
    """Point MedMNIST downloads at `base` (a URL) and its cache at tmp_path/cache."""

    def point(base: str) -> Path:
        monkeypatch.setenv("MEDDL_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.delenv("MEDDL_DATA_DIR", raising=False)
        monkeypatch.setattr(medmnist, "file_url", lambda name, size: f"{base}/{medmnist.file_name(name, size)}")
        monkeypatch.setattr(medmnist, "expected_md5", lambda name, size: PAYLOAD_MD5)
        return tmp_path / "cache" / "medmnist"

    return point


def test_medmnist_downloads_once_then_reads_the_cache(server, tmp_path, medmnist_from):
    cache = medmnist_from(server)
    first = medmnist.locate("breastmnist", 28, data_dir=tmp_path / "nothing-here")
    second = medmnist.locate("breastmnist", 28, data_dir=None)
    assert first == second == cache / "breastmnist.npz"
    assert Handler.requests == ["/breastmnist.npz"]
    data = load_dataset("breastmnist", size=28)
    assert {split: len(images) for split, images in data.images.items()} == {"train": 3, "val": 2, "test": 2}
    assert len(Handler.requests) == 1


def test_unreachable_server_says_which_file_to_put_where(tmp_path, medmnist_from):
    cache = medmnist_from("http://127.0.0.1:1")
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError) as raised:
        medmnist.locate("pneumoniamnist", 64, data_dir=data_dir)
    message = str(raised.value)
    assert "pneumoniamnist_64.npz" in message and str(data_dir) in message and str(cache) in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_no_download_allowed_lists_where_it_looked(tmp_path, medmnist_from):
    medmnist_from("http://127.0.0.1:1")
    with pytest.raises(DataError, match=r"breastmnist_128\.npz not found; looked in"):
        medmnist.locate("breastmnist", 128, data_dir=tmp_path, allow_download=False)
