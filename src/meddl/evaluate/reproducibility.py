"""What a reader needs to reproduce an evaluation or check it later, recorded beside its numbers: the software
versions, the commit of meddl's code, SHA-256 checksums of the evaluated data and of the checkpoint, and the
numeric precision the model was trained and evaluated in.

Versions, commit and data fingerprints come from `meddl.manifest`, so the report and the run manifest agree. The
checkpoint gets two checksums: of the file as evaluated (what `sha256sum` prints), and of its weights alone, which
stays the same when meddl later adds entries to the file (the evaluation summary at the end of training).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from meddl.data.types import Splits
from meddl.manifest import data_fingerprint, git_commit, sha256_file, versions
from meddl.training.checkpoints import read_checkpoint


def reproducibility(module, data: Splits, split: str, checkpoint: Path, config: dict,
                    hardware: dict | None = None) -> dict:
    """The record, JSON-plain: versions; code (commit and whether the tree had changes; None outside a git
    checkout); data (the evaluated split's SHA-256 fingerprint, every split's, and whether the evaluated split is
    what the model was trained with); checkpoint (path, file and weights SHA-256); precision (see `precision`).
    `hardware` is the trainer's record of a run that has just trained (it holds the precision it resolved)."""
    checkpoint = Path(checkpoint)
    raw = read_checkpoint(checkpoint) if checkpoint.is_file() else {}
    fingerprint = data_fingerprint(data)
    at_training = (raw.get("data_fingerprint") or {}).get(split)
    return {
        "versions": versions(),
        "code": git_commit(),
        "data": {"split": split, "sha256": fingerprint.get(split), "splits": fingerprint,
                 "same_as_training": None if at_training is None else at_training == fingerprint.get(split)},
        "checkpoint": {"path": str(checkpoint), "sha256": sha256_file(checkpoint) if checkpoint.is_file() else None,
                       "weights_sha256": weights_sha256(module)},
        "precision": precision(module, raw, config, hardware),
    }


def precision(module, raw: dict, config: dict, hardware: dict | None) -> dict:
    """{"training", "training_source", "evaluation"}: the precision training ran in and where that is known from,
    and the dtype the evaluation's predictions were computed in (the weights' dtype: prediction uses no autocast).

    The trainer resolves "auto" for the hardware (bf16-mixed on a GPU or a CPU with native bf16, else 32-true), so
    the requested value alone does not say what ran; it is shown, labelled as requested, only where nothing better
    is recorded."""
    if hardware and hardware.get("precision"):
        training, source = hardware["precision"], "resolved by the trainer in this run"
    elif raw.get("precision"):
        training, source = raw["precision"], "recorded in the checkpoint"
    elif config.get("precision"):
        training, source = config["precision"], "requested (what it resolved to was not recorded)"
    else:
        training, source = None, "not recorded in the checkpoint"
    weights = next(module.parameters(), None)
    evaluation = str(weights.dtype).removeprefix("torch.") if weights is not None else None
    return {"training": training, "training_source": source, "evaluation": evaluation}


def weights_sha256(module) -> str:
    """SHA-256 over the module's state dict (every name and its tensor's bytes, in order)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
