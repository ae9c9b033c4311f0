"""The run manifest: everything needed to say later exactly what produced a result.

`manifest.json` sits beside `metrics.json` and records the software (meddl, Python, torch and the libraries that
change numbers), the resolved config and seed, the data (source files with checksums, and a fingerprint of the
samples as loaded), the machine, the git commit of the code and the start and end times. The data fingerprint is
also stored inside every checkpoint, so `meddl evaluate` can notice that "the same dataset" has changed on disk.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from meddl.data.types import ImageSplits, Splits

LIBRARIES = ("torch", "lightning", "numpy", "scipy", "scikit-learn", "torchmetrics", "monai", "opacus", "wfdb",
             "onnxruntime", "pillow", "pydicom")
HASH_CHUNK = 1 << 20


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """Installed versions of meddl and the libraries whose versions can change results."""
    found: dict[str, str | None] = {"meddl": _version("meddl"), "python": platform.python_version()}
    for name in LIBRARIES:
        found[name] = _version(name)
    return found


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    """CPU, cores, torch threads and GPU of this machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }


def git_commit(path: Path | None = None) -> dict | None:
    """The commit (and whether the tree had uncommitted changes) of the git checkout holding meddl's code, if any."""
    where = path or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_fingerprint(data: Splits) -> dict[str, str]:
    """SHA-256 of each split's samples and labels as loaded (after any resizing or filtering): equal fingerprints
    mean the model sees exactly the same data, whatever files it came from."""
    fingerprint = {}
    for split in data.labels:
        digest = hashlib.sha256()
        for chunk in data.fingerprint_bytes(split):
            digest.update(chunk)
        digest.update(np.ascontiguousarray(data.labels[split]).tobytes())
        fingerprint[split] = digest.hexdigest()
    return fingerprint


def source_files(dataset: str, data: Splits, data_dir: Path | None) -> list[dict]:
    """The files the data was read from, with size and SHA-256: the registered set's files where they are found,
    or the user's own files (for a folder of images: every image listed in the loaded splits)."""
    from meddl.data.registry import default_data_dir, is_user_dataset

    directory = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if is_user_dataset(dataset):
        root = Path(dataset).expanduser()
        if root.is_file():
            paths = [root]
        elif getattr(data, "sources", None):  # images read from the user's files
            paths = sorted({Path(p) for paths in data.sources.values() for p in paths})
        else:
            paths = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    else:
        paths = _registered_files(data, directory)
    return [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in paths if p.is_file()]


def _registered_files(data, directory: Path | None) -> list[Path]:
    info = data.info
    if info.kind == "image":
        from meddl.data.medmnist import locate

        size = data.image_size[0] if isinstance(data, ImageSplits) else 28
        return [locate(info.name, size, directory, allow_download=False)]
    folder_name = "mitdb" if info.kind == "ecg" else "pubmedqa"
    from meddl.data.download import default_cache_dir

    candidates = [d for d in ([directory / folder_name, directory] if directory else []) + [default_cache_dir() /
                  folder_name] if d.is_dir()]
    for folder in candidates:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".hea", ".dat", ".atr", ".json"))
        if files:
            return files
    return []


def build_manifest(*, config: dict, data, dataset: str, data_dir: Path | None, started: str, finished: str,
                   outputs: dict[str, str]) -> dict:
    """The manifest of one run (see the module docstring)."""
    return {
        "meddl_manifest": 1,
        "started": started,
        "finished": finished,
        "versions": versions(),
        "machine": machine(),
        "code": git_commit(),
        "seed": config.get("seed"),
        "config": config,
        "data": {
            "dataset": dataset,
            "kind": data.info.kind,
            "files": source_files(dataset, data, data_dir),
            "fingerprint": data_fingerprint(data),
        },
        "outputs": outputs,
    }
