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
    _, raw, _ = _read(path)
    return raw.get(key) if isinstance(raw, dict) else None


KINDS = ("image", "ecg", "text", "language-model")
DESCRIBED = {"image": "an image classifier", "ecg": "an ECG classifier", "text": "a text classifier",
             "language-model": "a language model"}


def _read(path: str | Path) -> tuple[Path, dict, dict]:
    """(path, raw checkpoint, hyper-parameters) of a file that torch can read."""
    path = Path(path)
    if not path.is_file():
        raise MeddlError(f"checkpoint {path} not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many types for a damaged file
        raise MeddlError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    hparams = raw.get("hyper_parameters", {}) if isinstance(raw, dict) else {}
    return path, raw, dict(hparams)


def checkpoint_kind(hparams: dict) -> str | None:
    """What a meddl checkpoint holds (one of KINDS), from its hyper-parameters; None for any other file."""
    if {"model", "task", "labels", "in_channels", "image_size"} <= set(hparams):
        return "image"
    kind = hparams.get("kind")
    return kind if kind in KINDS[1:] and "model" in hparams else None


def load_checkpoint(path: str | Path, expect: tuple[str, ...] = KINDS, purpose: str = ""):
    """The module stored in any meddl checkpoint (an `ImageClassifier`, a `SequenceClassifier` for ECG or text, or
    a `LanguageModel`), in evaluation mode on the CPU; its kind is `module.hparams.kind` ("image" for images).

    `expect` lists the kinds the caller can use; another kind is a MeddlError naming what `purpose` takes, e.g.
    ``load_checkpoint(p, expect=("language-model",), purpose="meddl generate")``.
    """
    path, raw, hparams = _read(path)
    kind = checkpoint_kind(hparams)
    if kind is None:
        raise MeddlError(f"{path}: not a meddl checkpoint (no model, task and labels recorded); expected a "
                         "best.ckpt or last.ckpt written by `meddl train`")
    if kind not in expect:
        wanted = " or ".join(DESCRIBED[k] for k in expect)
        raise MeddlError(f"{path} holds {DESCRIBED[kind]}; {purpose or 'this command'} takes {wanted}")
    if kind == "image":
        return load_classifier(path)
    from meddl.training.sequence_module import LanguageModel, SequenceClassifier

    module = (LanguageModel if kind == "language-model" else SequenceClassifier)(**hparams)
    module.load_state_dict(raw["state_dict"])
    return module.eval()


def load_classifier(path: str | Path):
    """The `ImageClassifier` stored in a meddl checkpoint, in evaluation mode on the CPU, with `privacy` set to the
    differential-privacy record of a DP-trained checkpoint (None otherwise)."""
    from meddl.training.module import ImageClassifier

    path, raw, hparams = _read(path)
    kind = checkpoint_kind(hparams)
    if kind not in (None, "image"):
        raise MeddlError(f"{path} holds {DESCRIBED[kind]}; this command takes image classifiers only "
                         "(for sequence models use `meddl evaluate`, or `meddl generate` for a language model)")
    if kind is None:
        raise MeddlError(f"{path}: not a meddl image-classifier checkpoint (no model/task/labels recorded)")
    model = ImageClassifier(**hparams)
    model.load_state_dict(raw["state_dict"])
    model.privacy = raw.get("privacy")
    # the decision threshold tuned on validation data (binary: a float; multi-label: one per label); None: 0.5
    model.threshold = raw.get("threshold")
    model.threshold_method = raw.get("threshold_method")
    # what the training images looked like, for the input guards of `meddl predict` (None: older checkpoint)
    model.input_stats = raw.get("input_stats")
    return model.eval()
