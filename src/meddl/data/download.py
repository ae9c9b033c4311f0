"""Fetching dataset files: checksum-verified, atomic, into a cache folder.

A file is streamed into a temporary file beside its destination and renamed into place only once its MD5 matches,
so an interrupted or corrupted transfer never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from meddl.atomic import open_temporary
from meddl.errors import DownloadError

CHUNK_BYTES = 1 << 20


def md5sum(path: Path) -> str:
    return _file_digest(path, "md5")


def sha256sum(path: Path) -> str:
    return _file_digest(path, "sha256")


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """Where downloads go when no data folder is given: $MEDDL_CACHE_DIR or ~/.cache/meddl."""
    return Path(os.environ.get("MEDDL_CACHE_DIR", Path.home() / ".cache" / "meddl")).expanduser()


def download(
    url: str, destination: Path, md5: str = "", timeout: float = 60.0, progress: bool = True, sha256: str = ""
) -> Path:
    """Download `url` to `destination` if its checksum matches; raise `DownloadError` and leave nothing otherwise.

    Give `md5` or `sha256` (the digest the source publishes or that was recorded from a verified copy).
    """
    if bool(md5) == bool(sha256):
        raise ValueError("download() needs exactly one of md5= or sha256=")
    algorithm, expected = ("md5", md5) if md5 else ("sha256", sha256)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = open_temporary(destination, suffix=".part")  # 0666 less the umask, as any file
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _stream(url, out, timeout, progress, destination.name)
        actual = _file_digest(temp_path, algorithm)
        if actual != expected:
            raise DownloadError(
                f"{destination.name} from {url}: {algorithm.upper()} mismatch, expected {expected}, got {actual}; "
                "the file was discarded"
            )
        os.replace(temp_path, destination)
    finally:
        temp_path.unlink(missing_ok=True)
    return destination


def _stream(url: str, out, timeout: float, progress: bool, label: str) -> None:
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise DownloadError(f"could not download {label} from {url}: {error}") from None
    with response:
        expected = int(response.headers.get("Content-Length") or 0)
        received = 0
        bar = _progress_bar(expected, label) if progress else None
        try:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        except (OSError, urllib.error.URLError, http.client.HTTPException) as error:
            raise DownloadError(f"download of {label} from {url} broke off after {received} bytes: {error}") from None
        finally:
            if bar is not None:
                bar.close()
    if expected and received != expected:
        raise DownloadError(
            f"download of {label} from {url} was cut short: expected {expected} bytes, got {received}"
        )


def _progress_bar(total: int, label: str):
    from tqdm import tqdm

    # disable=None: a bar on a terminal, nothing in a log file
    return tqdm(total=total or None, unit="B", unit_scale=True, desc=f"downloading {label}", leave=False, disable=None)
