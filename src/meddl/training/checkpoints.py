"""Checkpoint writing and reading: atomic on disk, safe to open, and clear about what a file is.

A checkpoint is a pickle, and a pickle can run any code when it is opened. meddl writes only plain data into its
checkpoints (tensors, numbers, strings, lists, dicts), so every file is opened with `torch.load(weights_only=True)`,
which refuses anything else before it is built; the refusal names the file and the type it held. A file the user
trusts (an old or foreign one) is opened fully only inside `trusting_files()` (`meddl ... --trust`).

Every checkpoint meddl trains carries `TASK_KEY`: the name of the task that wrote it (see `meddl.tasks`), so a
reader knows what the file holds without guessing from its contents. This module writes it for whichever task the
trainer is given; it knows no task itself.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from meddl.errors import MeddlError

TASK_KEY = "meddl_task"
_TRUSTED: ContextVar[bool] = ContextVar("meddl_trusted_files", default=False)


@contextmanager
def trusting_files() -> Iterator[None]:
    """Within this block checkpoints are opened in full, whatever they hold: only for files from a trusted source,
    since such a file can run code as it is opened. The CLI's `--trust` runs a command inside it."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def load_file(path: Path) -> Any:
    """`torch.load` of a meddl file on the CPU: plain data only, unless inside `trusting_files()`."""
    trusted = _TRUSTED.get()
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as error:
        if trusted:
            raise
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found is None:  # damaged or not a pickle at all
            detail = next((line for line in str(error).splitlines() if line.startswith("Unsupported")), "")
            raise MeddlError(f"{path}: not a readable checkpoint (not the plain data meddl writes"
                             + (f": {detail}" if detail else "") + ")") from None
        raise MeddlError(f"{path}: refused: it holds a {found.group(1)} object, which meddl never writes and which "
                         "could run code when opened; if you trust where the file came from, add --trust") from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it into place, so an interrupted save never leaves
    a truncated `best.ckpt` or `last.ckpt` behind."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_atomically(checkpoint, target)


def save_atomically(contents: dict, target: Path) -> None:
    """`torch.save` into a temporary file beside `target`, renamed into place only when complete; a failed write
    (a full disk shows as torch's "file write failed") is an OSError naming the file, and leaves nothing."""
    import errno
    import shutil

    temporary = target.with_name(f".{target.name}.tmp")
    try:
        torch.save(contents, temporary)
        os.replace(temporary, target)
    except RuntimeError as error:
        if "write" not in str(error).lower():
            raise
        free = shutil.disk_usage(target.parent).free
        raise OSError(errno.ENOSPC if free < 64 << 20 else errno.EIO,
                      f"could not write the checkpoint ({free >> 20} MB free on its disk)", str(target)) from None
    finally:
        temporary.unlink(missing_ok=True)


def annotate_checkpoint(path: str | Path, **entries: Any) -> None:
    """Add top-level entries (threshold, data fingerprint, input statistics) to a written checkpoint, atomically."""
    path = Path(path)
    raw = load_file(path)
    raw.update(entries)
    save_atomically(raw, path)


def checkpoint_entry(path: str | Path, key: str) -> Any:
    """One top-level entry of a checkpoint file (None if absent), without building the model."""
    raw = read_checkpoint(path)
    return raw.get(key) if isinstance(raw, dict) else None


def read_checkpoint(path: str | Path) -> dict:
    """The plain contents of a checkpoint file (weights, hyper-parameters, the entries meddl adds), on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise MeddlError(f"checkpoint {path} not found")
    try:
        raw = load_file(path)
    except MeddlError:
        raise
    except Exception as error:  # torch raises many types for a damaged file
        raise MeddlError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(raw, dict):
        raise MeddlError(f"{path}: not a meddl checkpoint (holds a {type(raw).__name__}, not a checkpoint)")
    return raw
