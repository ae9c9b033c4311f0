"""Predictors: one small interface over an ONNX export (ONNX Runtime) and a meddl checkpoint (eager PyTorch).

A server or script holds a `Predictor` and calls ``predict(images)`` with uint8 (N, H, W, C) images already at the
model's size and channels (see `prepare`); it gets float32 (N, n_classes) probabilities in meddl's layout, and
``metadata`` describes the model (labels, task, image_size, in_channels, decision_threshold, ...; see
`meddl.serve.export`). Both backends give the same numbers within the export's verified tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from meddl.errors import ConfigError, DataError, MeddlError

BACKENDS = ("auto", "onnx", "torch")


class Predictor(Protocol):
    metadata: dict

    def predict(self, images: np.ndarray) -> np.ndarray: ...


def _check_batch(images: np.ndarray, metadata: dict) -> np.ndarray:
    size, channels = metadata["image_size"], metadata["in_channels"]
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, channels):
        raise DataError(
            f"predict: expected uint8 images of shape (N, {size}, {size}, {channels}), "
            f"got {images.dtype} {images.shape} (use meddl.serve.predictor.prepare on each image first)"
        )
    return images


class OnnxPredictor:
    """ONNX Runtime on a meddl ONNX export; needs only the .onnx file (CUDA provider when available, else CPU)."""

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        from meddl.serve.export import read_metadata

        self.path = Path(path)
        self.metadata = read_metadata(self.path)
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(self.path), providers=providers)
        except Exception as error:  # ORT raises its own types for invalid graphs
            raise MeddlError(f"{self.path}: ONNX Runtime cannot load this model ({type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''})") from None
        self.input_name = self.session.get_inputs()[0].name

    def predict(self, images: np.ndarray) -> np.ndarray:
        batch = _check_batch(images, self.metadata)
        pixels = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        return self.session.run(None, {self.input_name: pixels})[0]


class TorchPredictor:
    """Eager PyTorch on a meddl checkpoint; `module` is the loaded `ImageClassifier` (for Grad-CAM and the like)."""

    def __init__(self, checkpoint: str | Path):
        from meddl.serve.export import model_card
        from meddl.tasks.image import load_classifier

        self.path = Path(checkpoint)
        self.module = load_classifier(self.path)
        self.metadata = model_card(self.module, self.path)

    def predict(self, images: np.ndarray) -> np.ndarray:
        import torch

        batch = _check_batch(images, self.metadata)
        return self.module.predict_proba(torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))))


def load_predictor(path: str | Path, backend: str = "auto") -> Predictor:
    """A predictor for an ONNX export (.onnx) or a meddl checkpoint (.ckpt).

    backend "auto" runs a file as it is; "onnx" runs a checkpoint on ONNX Runtime through an export beside it
    (``<stem>.onnx``, made once and reused while newer than the checkpoint); "torch" runs a checkpoint eagerly.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        if backend == "torch":
            raise ConfigError(f"{path}: an ONNX export runs on ONNX Runtime only; give the checkpoint for 'torch'")
        return OnnxPredictor(path)
    if backend in ("auto", "torch"):
        return TorchPredictor(path)
    return OnnxPredictor(_cached_export(path))


def _cached_export(checkpoint: Path) -> Path:
    from meddl.serve.export import export_onnx, read_metadata

    cached = checkpoint.with_suffix(".onnx")
    if checkpoint.is_file() and cached.is_file() and cached.stat().st_mtime >= checkpoint.stat().st_mtime:
        try:
            if read_metadata(cached).get("source_checkpoint") == checkpoint.name:
                return cached
        except MeddlError:
            pass  # a stale or foreign file: export afresh over it
    return export_onnx(checkpoint, cached).path


def prepare(image_uint8_hwc: np.ndarray, metadata: dict) -> tuple[np.ndarray, list[str]]:
    """One decoded image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as uint8 (size, size, channels) for `predict`
    (alpha dropped, resized, grey/RGB converted as meddl's `predict` does), and why it is unlike the training images
    (the input guards of `meddl.guards`, from the statistics in `metadata`; none recorded: nothing checked)."""
    from meddl.inference import prepare_checked

    array = np.asarray(image_uint8_hwc)
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (1, 3, 4) or 0 in array.shape:
        raise DataError(f"prepare: expected a uint8 image (H, W) or (H, W, 1|3|4), got {array.dtype} {array.shape}")
    if array.shape[2] == 4:
        array = array[..., :3]
    return prepare_checked(np.ascontiguousarray(array), metadata["in_channels"], metadata["image_size"],
                           metadata.get("input_stats"))
