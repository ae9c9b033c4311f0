"""The model behind the HTTP API: a predictor for /v1/predict, an explainer for /v1/explain, and an id.

Serving a checkpoint runs predictions on ONNX Runtime (through the verified export, `--backend onnx`, the default)
or eagerly in PyTorch (`--backend torch`); either way the PyTorch module is kept for Grad-CAM. Serving a bare
.onnx file needs no PyTorch model: /v1/explain then computes occlusion sensitivity through ONNX Runtime, which
only needs predictions, at the cost of a few dozen forward passes per image (49 occluded copies in one batch).
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meddl.errors import ConfigError, MeddlError

SERVE_BACKENDS = ("onnx", "torch")
OCCLUSION_GRID = 7  # occluded positions per axis


@dataclass(frozen=True)
class Prepared:
    """An upload at the model's input size and channels, and why it is unlike the training images (empty: alike)."""

    image: np.ndarray  # uint8 (size, size, channels)
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """One image's prediction, as /v1/predict returns it. An abstained outcome has no label: the input is outside
    what the model was trained on (`reasons`), so its probabilities must not be read as an answer."""

    label: str | None
    probabilities: dict[str, float]
    index: int  # the class index explanations default to
    decision: str  # how the label follows from the probabilities and the threshold, in words
    reasons: tuple[str, ...] = ()

    @property
    def abstained(self) -> bool:
        return bool(self.reasons)


@dataclass
class ServedModel:
    path: Path
    model_id: str
    backend: str
    predictor: object  # meddl.serve.predictor.Predictor
    module: object | None  # the PyTorch ImageClassifier, or None for a bare ONNX file
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def metadata(self) -> dict:
        return self.predictor.metadata

    @property
    def explain_methods(self) -> list[str]:
        if self.module is None:
            return ["occlusion"]
        from meddl.explain import METHODS

        return list(METHODS)

    def card(self) -> dict:
        """The model card: what the model takes and returns, the dataset, test metrics with CIs, privacy."""
        card = {"model_id": self.model_id, "backend": self.backend, "explain_methods": self.explain_methods,
                **self.metadata}
        return _finite(card)

    def prepare(self, pixels: np.ndarray) -> Prepared:
        """The decoded upload resized for the model, checked against the training images' statistics (the same
        input guards as `meddl predict`; a model without them, e.g. from meddl 0.1, checks nothing)."""
        from meddl.serve.predictor import prepare

        image, problems = prepare(pixels, self.metadata)
        return Prepared(image, tuple(problems))

    def predict(self, prepared: Prepared) -> Outcome:
        """The label by the model's decision rule, or no label (abstain) for an input unlike the training images."""
        probs = np.asarray(self.predictor.predict(prepared.image[None]), dtype=np.float64)[0]
        labels, task = list(self.metadata["labels"]), self.metadata["task"]
        threshold = self.metadata.get("decision_threshold", 0.5)
        source = self.metadata.get("threshold_source", "default")
        if task == "multi-label":
            cuts = np.broadcast_to(np.asarray(threshold, dtype=np.float64), probs.shape)  # one per label, or shared
            chosen = [name for name, p, cut in zip(labels, probs, cuts) if p > cut]
            label, index = "|".join(chosen), int(np.argmax(probs))
            decision = (f"labels whose probability is above their threshold ({source}): "
                        + (", ".join(f"{n} {p:.3f} > {c:.3f}" for n, p, c in zip(labels, probs, cuts) if p > c)
                           or "none"))
        elif task == "binary":
            index = int(probs[1] > float(threshold))
            label = labels[index]
            relation = "is above" if index else "is not above"
            decision = (f"p({labels[1]}) = {probs[1]:.3f} {relation} the threshold {float(threshold):.3f} "
                        f"({source}), so {label}")
        else:
            index = int(np.argmax(probs))
            label = labels[index]
            decision = f"{label} has the highest probability ({probs[index]:.3f})"
        rounded = {name: round(float(p), 6) for name, p in zip(labels, probs)}
        if prepared.problems:
            return Outcome(None, rounded, index, "no answer: the image is outside the training distribution",
                           prepared.problems)
        return Outcome(label, rounded, index, decision)

    def explain(self, image: np.ndarray, method: str, target: int) -> np.ndarray:
        """A heatmap (size, size) in [0, 1] for class `target` of a prepared image."""
        if method not in self.explain_methods:
            raise ConfigError(f"explanation method {method!r} is not available for this model; expected one of "
                              f"{', '.join(self.explain_methods)}"
                              + (" (Grad-CAM needs the checkpoint: serve the .ckpt)" if self.module is None else ""))
        if self.module is None:
            return occlusion_map(self.predictor.predict, image, target)
        from meddl.explain import explain_images

        with self._lock:  # hook-based explanations share the module's state: one at a time
            return np.asarray(explain_images(self.module, image[None], method=method, target=target))[0]


def occlusion_map(predict, image: np.ndarray, target: int, grid: int = OCCLUSION_GRID) -> np.ndarray:
    """Occlusion sensitivity through any predict function: slide a grey square (a quarter of the side) over a
    grid x grid lattice, score how much the target's probability drops, average the drops per pixel."""
    size = image.shape[0]
    patch = max(1, round(size / 4))
    starts = np.unique(np.linspace(0, size - patch, grid).round().astype(int))
    fill = np.round(image.reshape(-1, image.shape[2]).mean(axis=0)).astype(np.uint8)
    batch = [image]
    for top in starts:
        for left in starts:
            occluded = image.copy()
            occluded[top : top + patch, left : left + patch] = fill
            batch.append(occluded)
    probs = np.asarray(predict(np.stack(batch)))[:, target]
    drops = np.clip(probs[0] - probs[1:], 0, None)
    heat, cover = np.zeros((size, size)), np.zeros((size, size))
    for drop, (top, left) in zip(drops, ((t, l) for t in starts for l in starts)):
        heat[top : top + patch, left : left + patch] += drop
        cover[top : top + patch, left : left + patch] += 1
    heat = heat / np.maximum(cover, 1)
    return (heat / heat.max() if heat.max() > 0 else heat).astype(np.float32)


def _finite(value):
    """JSON has no NaN or infinity: an undefined metric (say AUC on a one-class test set) is sent as null."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def file_id(path: Path) -> str:
    """A short content hash of the model file: clients can tell which exact model answered."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()[:16]}"


def load_served_model(model: str | Path, backend: str = "onnx") -> ServedModel:
    """Load a .ckpt (predict on `backend`, Grad-CAM on the PyTorch module) or a .onnx export (ONNX Runtime only)."""
    from meddl.serve.predictor import TorchPredictor, load_predictor

    path = Path(model)
    if backend not in SERVE_BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(SERVE_BACKENDS)}")
    if not path.is_file():
        raise MeddlError(f"model {path} not found (expected a meddl .ckpt checkpoint or .onnx export)")
    predictor = load_predictor(path, backend=backend)
    if predictor.metadata.get("spatial_dims", 2) == 3:
        raise ConfigError(f"{path}: a model of 3D volumes; the server takes 2D image uploads only so far "
                          "(evaluate volumes with `meddl evaluate`)")
    if isinstance(predictor, TorchPredictor):
        module = predictor.module
    elif path.suffix.lower() == ".onnx":
        module = None
    else:
        module = TorchPredictor(path).module
    return ServedModel(path, file_id(path), backend, predictor, module)
