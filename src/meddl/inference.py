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
    # why this file could not be read (then label and probabilities are empty); None when it was predicted
    error: str | None = None


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
    """Match a decoded image (H, W, C) to the model's size and channels: a square resize, then RGB to grey by
    luminance or grey to RGB by repetition (resizing first converts 28 x 28 pixels, not 40 million)."""
    from meddl.data.imageio import resize_image

    return _match_channels(resize_image(array, size), channels)


def prepare_checked(array: np.ndarray, channels: int, size: int, stats: dict | None) -> tuple[np.ndarray, list[str]]:
    """`prepare_image`, and why the image is unlike the training images (`meddl.guards.check_input`, on the
    resized image: the training statistics are of images at the model's size)."""
    from meddl.data.imageio import resize_image
    from meddl.guards import check_input

    resized = resize_image(array, size)
    return _match_channels(resized, channels), check_input(resized, stats)


def _match_channels(array: np.ndarray, channels: int) -> np.ndarray:
    if array.shape[2] == 3 and channels == 1:
        return np.clip((array.astype(np.float32) @ LUMINANCE)[..., None].round(), 0, 255).astype(np.uint8)
    if array.shape[2] == 1 and channels == 3:
        return np.repeat(array, 3, axis=2)
    return array


def predict_files(module, files: list[Path], strict: bool = False) -> list[Prediction]:
    """Class probabilities for each file, with the decided class (or the labels present, for multi-label), and
    warnings for inputs unlike the training images (an error for the first of them under `strict`). A file that
    cannot be read does not stop the others: its Prediction carries the `error` instead."""
    from meddl.data.imageio import read_image
    from meddl.guards import enforce
    from meddl.tasks.image.outputs import predicted_labels

    hp = module.hparams
    decoded, failed = {}, {}
    for path in files:
        try:
            decoded[path] = read_image(path)
        except DataError as error:
            failed[path] = str(error)
    if not decoded:
        return [Prediction(str(path), "", {}, error=failed[path]) for path in files]
    stats = getattr(module, "input_stats", None)
    prepared = {path: prepare_checked(array, hp.in_channels, hp.image_size, stats) for path, array in decoded.items()}
    warnings = {path: tuple(enforce(str(path), problems, strict)) for path, (_, problems) in prepared.items()}
    batch = np.stack([image for image, _ in prepared.values()])
    probs = module.predict_proba(torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()))
    # the operating point tuned on validation data and stored in the checkpoint (0.5 for older checkpoints)
    threshold = getattr(module, "threshold", None)
    hard = predicted_labels(hp.task, torch.from_numpy(probs), 0.5 if threshold is None else threshold).numpy()
    predicted = {}
    for path, row, decision in zip(decoded, probs, hard):
        if hp.task == "multi-label":
            label = "|".join(hp.labels[i] for i in np.flatnonzero(decision))
        else:
            label = hp.labels[int(decision)]
        predicted[path] = Prediction(str(path), label, {name: float(p) for name, p in zip(hp.labels, row)},
                                     warnings[path])
    return [predicted.get(path) or Prediction(str(path), "", {}, error=failed[path]) for path in files]


def format_predictions(predictions: list[Prediction], fmt: str) -> str:
    """CSV (one column per class) or JSON (a list of objects)."""
    if fmt == "json":
        return json.dumps([{**p.__dict__, "warnings": list(p.warnings)} for p in predictions], indent=2) + "\n"
    names = next((list(p.probabilities) for p in predictions if p.probabilities), [])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "label", *[f"p_{name}" for name in names], "warnings", "error"])
    for p in predictions:
        probabilities = [f"{p.probabilities[name]:.6f}" if p.probabilities else "" for name in names]
        writer.writerow([p.file, p.label, *probabilities, "; ".join(p.warnings), p.error or ""])
    return buffer.getvalue()
