"""Predicting with a trained classifier on image files: the `predict` verb."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from meddl.errors import DataError

LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Prediction:
    file: str
    label: str
    probabilities: dict[str, float]
    # why this input does not look like the training images (see meddl.guards); empty when it does
    warnings: tuple[str, ...] = ()


def collect_files(inputs: list[str | Path]) -> list[Path]:
    """Image files named directly or found (recursively) in the folders given, in a stable order."""
    from meddl.data.imageio import IMAGE_SUFFIXES

    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.is_file() and _is_image(p, IMAGE_SUFFIXES))
            if not found:
                raise DataError(f"{item}: no image files found (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    return files


def _is_image(path: Path, suffixes) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and (path.suffix.lower() in suffixes or name.endswith(".nii.gz"))


def prepare_image(array: np.ndarray, channels: int, size: int) -> np.ndarray:
    """Match a decoded image (H, W, C) to the model's channels and size: RGB to grey by luminance, grey to RGB by
    repetition, then a square resize."""
    from meddl.data.imageio import resize_image

    if array.shape[2] == 3 and channels == 1:
        array = np.clip((array.astype(np.float32) @ LUMINANCE)[..., None].round(), 0, 255).astype(np.uint8)
    elif array.shape[2] == 1 and channels == 3:
        array = np.repeat(array, 3, axis=2)
    if array.shape[:2] != (size, size):
        array = resize_image(array, size)
    return array


def predict_files(module, files: list[Path], strict: bool = False) -> list[Prediction]:
    """Class probabilities for each file, with the decided class (or the labels present, for multi-label), and
    warnings for inputs unlike the training images (an error for the first of them under `strict`)."""
    from meddl.data.imageio import read_image
    from meddl.guards import check_input, enforce
    from meddl.tasks.image.outputs import predicted_labels

    hp = module.hparams
    decoded = [read_image(path) for path in files]
    stats = getattr(module, "input_stats", None)
    warnings = [tuple(enforce(str(path), check_input(array, stats), strict)) for path, array in zip(files, decoded)]
    batch = np.stack([prepare_image(array, hp.in_channels, hp.image_size) for array in decoded])
    probs = module.predict_proba(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()))
    # the operating point tuned on validation data and stored in the checkpoint (0.5 for older checkpoints)
    threshold = getattr(module, "threshold", None)
    hard = predicted_labels(hp.task, torch.from_numpy(probs), 0.5 if threshold is None else threshold).numpy()
    results = []
    for path, row, decision, notes in zip(files, probs, hard, warnings):
        if hp.task == "multi-label":
            label = "|".join(hp.labels[i] for i in np.flatnonzero(decision))
        else:
            label = hp.labels[int(decision)]
        results.append(Prediction(str(path), label, {name: float(p) for name, p in zip(hp.labels, row)}, notes))
    return results


def format_predictions(predictions: list[Prediction], fmt: str) -> str:
    """CSV (one column per class) or JSON (a list of objects)."""
    if fmt == "json":
        return json.dumps([{**p.__dict__, "warnings": list(p.warnings)} for p in predictions], indent=2) + "\n"
    names = list(predictions[0].probabilities) if predictions else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "label", *[f"p_{name}" for name in names], "warnings"])
    for p in predictions:
        writer.writerow([p.file, p.label, *[f"{p.probabilities[name]:.6f}" for name in names], "; ".join(p.warnings)])
    return buffer.getvalue()
