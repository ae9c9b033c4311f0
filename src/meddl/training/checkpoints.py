"""Checkpoint writing and reading: atomic on disk, and clear about what a file is.

Every checkpoint meddl trains carries `TASK_KEY`: the name of the task that wrote it (see `meddl.tasks`), so a
reader knows what the file holds without guessing from its contents. This module writes it for whichever task the
trainer is given; it knows no task itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from meddl.errors import MeddlError

TASK_KEY = "meddl_task"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it into place, so an interrupted save never leaves
    a truncated `best.ckpt` or `last.ckpt` behind."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            torch.save(checkpoint, temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)


def annotate_checkpoint(path: str | Path, **entries: Any) -> None:
    """Add top-level entries (threshold, data fingerprint, input statistics) to a written checkpoint, atomically."""
    path = Path(path)
    raw = torch.load(path, map_location="cpu", weights_only=False)
    raw.update(entries)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        torch.save(raw, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


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
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise MeddlError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(raw, dict):
        raise MeddlError(f"{path}: not a meddl checkpoint (holds a {type(raw).__name__}, not a checkpoint)")
    return raw
