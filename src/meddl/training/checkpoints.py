"""Checkpoint writing and reading: atomic on disk, and clear about what a file is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from meddl.errors import MeddlError


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


def load_classifier(path: str | Path):
    """The `ImageClassifier` stored in a meddl checkpoint, in evaluation mode on the CPU, with `privacy` set to the
    differential-privacy record of a DP-trained checkpoint (None otherwise)."""
    from meddl.training.module import ImageClassifier

    path = Path(path)
    if not path.is_file():
        raise MeddlError(f"checkpoint {path} not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise MeddlError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    hparams = raw.get("hyper_parameters", {}) if isinstance(raw, dict) else {}
    if not {"model", "task", "labels", "in_channels", "image_size"} <= set(hparams):
        raise MeddlError(f"{path}: not a meddl image-classifier checkpoint (no model/task/labels recorded)")
    model = ImageClassifier(**hparams)
    model.load_state_dict(raw["state_dict"])
    model.privacy = raw.get("privacy")
    return model.eval()
