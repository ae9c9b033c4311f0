"""Exporting a trained classifier to ONNX: one self-describing file that runs without meddl or PyTorch.

The exported graph holds the whole path from pixels to probabilities, so a deployment cannot get it wrong:

- input ``images``: float32 (N, C, H, W), raw pixel values 0..255 (a uint8 image cast to float), N free; grey
  images have C=1, colour images C=3 in RGB order; H = W = the model's image size;
- inside: ``(x / 255 - mean) / std`` (meddl's own normalisation), the network, then the task's link
  (softmax, sigmoid, or ordinal cumulative -> class probabilities, as `meddl.tasks.image.outputs.probabilities`);
- output ``probabilities``: float32 (N, n_classes), each row summing to 1, or (N, n_labels) independent
  probabilities for a multi-label task.

A model card travels in the file's metadata_props as JSON under the key "meddl": labels, task, input layout and
range, model, dataset, decision threshold, meddl version, privacy and test metrics with confidence intervals where
known. Every export is checked against PyTorch with ONNX Runtime before it is moved into place.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from meddl.errors import MeddlError

METADATA_KEY = "meddl"
FORMAT = "meddl-onnx/1"
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"
VERIFY_BATCHES = (1, 7)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    max_abs_diff: float  # ONNX Runtime vs PyTorch probabilities on the verification inputs
    metadata: dict


class _PixelsToProbabilities(torch.nn.Module):
    """The exported graph: raw pixels (0..255, NCHW) -> normalisation -> network -> class probabilities."""

    def __init__(self, module):
        super().__init__()
        from meddl.tasks.image.module import MEAN, STD

        self.net, self.task, self.mean, self.std = module.net, module.hparams.task, MEAN, STD

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from meddl.tasks.image.outputs import probabilities

        return probabilities(self.task, self.net((images / 255 - self.mean) / self.std))


def _cummin(x: torch.Tensor, dim: int):
    """`torch.cummin` as elementwise ops over the (static) class axis: ONNX has no cumulative minimum. Used for
    the ordinal link's K-1 thresholds; ties keep the last index, as torch does."""
    values, indices = [x.select(dim, 0)], [torch.zeros_like(x.select(dim, 0), dtype=torch.long)]
    for k in range(1, x.shape[dim]):
        current = x.select(dim, k)
        take = current <= values[-1]
        values.append(torch.where(take, current, values[-1]))
        indices.append(torch.where(take, torch.full_like(indices[-1], k), indices[-1]))
    return torch.stack(values, dim), torch.stack(indices, dim)


def export_onnx(
    checkpoint: str | Path, output: str | Path | None = None, verify: bool = True, tolerance: float = 1e-4
) -> ExportResult:
    """Export a meddl checkpoint to one ONNX file (default: ``<checkpoint stem>.onnx`` beside it).

    With `verify`, ONNX Runtime's probabilities must match PyTorch's within `tolerance` (max absolute difference)
    on random and image-like inputs at batch sizes 1 and 7; otherwise a `MeddlError` is raised and no file is left.

    Example: ``export_onnx("runs/pneu/checkpoints/best.ckpt").path`` -> ``runs/pneu/checkpoints/best.onnx``.
    """
    from meddl.tasks.image import load_classifier

    checkpoint = Path(checkpoint)
    module = load_classifier(checkpoint)
    target = Path(output) if output is not None else checkpoint.with_suffix(".onnx")
    metadata = model_card(module, checkpoint)
    proto = _to_onnx(module)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # a plain file, so the usual permissions
    try:
        temporary.write_bytes(proto.SerializeToString())
        diff = verify_export(temporary, module) if verify else float("nan")
        if verify and not diff <= tolerance:
            raise MeddlError(
                f"{target}: ONNX Runtime differs from PyTorch by {diff:.3g} (tolerance {tolerance:g}); nothing written"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return ExportResult(target, diff, metadata)


def _to_onnx(module):
    """The traced graph as an ONNX ModelProto with a dynamic batch axis."""
    wrapper = _PixelsToProbabilities(module).eval()
    hp = module.hparams
    seeded = torch.Generator().manual_seed(0)
    side = (hp.image_size,) * hp.get("spatial_dims", 2)
    example = torch.rand(2, hp.in_channels, *side, generator=seeded) * 255
    exporter_log = logging.getLogger("torch.onnx")  # it warns about optional operator sets (torchvision) it skips
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            batch = torch.export.Dim("batch")
            program = torch.export.export(wrapper, (example,), dynamic_shapes={INPUT_NAME: {0: batch}})
            program = program.run_decompositions({torch.ops.aten.cummin.default: _cummin})
            onnx_program = torch.onnx.export(
                program, (example,), dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                external_data=False, verbose=False,
            )
    except Exception as error:  # torch.export and the exporter raise their own types for unsupported operators
        raise MeddlError(f"model {hp.model!r} could not be exported to ONNX: {type(error).__name__}: "
                         f"{(str(error).splitlines() or [''])[0]}") from error
    finally:
        exporter_log.setLevel(level)
    return onnx_program.model_proto


def verification_images(channels: int, size: int, n: int, seed: int = 0, spatial_dims: int = 2) -> np.ndarray:
    """uint8 (n, C, H, W) images for checking an export: uniform noise, blank frames and smooth image-like ones
    (blurred blobs on a gradient, as a scan has) so that both odd and realistic activations are compared.
    `spatial_dims` 3 gives volumes (n, C, D, H, W) of the same kinds."""
    if spatial_dims == 3:
        return _verification_volumes(channels, size, n, seed)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, channels, size, size)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    for i in range(n // 2, n):
        centre, radius = rng.uniform(0.2, 0.8, 2), rng.uniform(0.1, 0.4)
        blob = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * radius**2))
        base = rng.uniform(20, 120) * (yy if i % 2 else xx) + rng.uniform(80, 200) * blob
        tint = rng.uniform(0.8, 1.0, (channels, 1, 1))
        images[i] = base[None] * tint + rng.normal(0, 4, (channels, size, size))
    if n > 2:
        images[1], images[2] = 0, 255  # an all-black and an all-white frame
    return np.clip(images.round(), 0, 255).astype(np.uint8)


def _verification_volumes(channels: int, size: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    volumes = rng.integers(0, 256, (n, channels, size, size, size)).astype(np.float32)
    zz, yy, xx = np.mgrid[0:size, 0:size, 0:size] / max(size - 1, 1)
    for i in range(n // 2, n):
        centre, radius = rng.uniform(0.2, 0.8, 3), rng.uniform(0.1, 0.4)
        blob = np.exp(-((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) / (2 * radius**2))
        base = rng.uniform(20, 120) * (zz if i % 2 else xx) + rng.uniform(80, 200) * blob
        volumes[i] = base[None] + rng.normal(0, 4, (channels, size, size, size))
    if n > 2:
        volumes[1], volumes[2] = 0, 255
    return np.clip(volumes.round(), 0, 255).astype(np.uint8)


def verify_export(path: str | Path, module) -> float:
    """Max absolute difference between ONNX Runtime's and meddl's PyTorch probabilities for the same uint8 pixels:
    a noise image and an image-like one at batch size 1, then all of `VERIFY_BATCHES[-1]` together."""
    import onnxruntime as ort

    hp = module.hparams
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = verification_images(hp.in_channels, hp.image_size, max(VERIFY_BATCHES),
                                 spatial_dims=hp.get("spatial_dims", 2))
    worst = 0.0
    for batch in (images[:1], images[-1:], images[: VERIFY_BATCHES[-1]]):  # noise, image-like, mixed
        expected = module.predict_proba(torch.from_numpy(batch))
        got = session.run([OUTPUT_NAME], {INPUT_NAME: batch.astype(np.float32)})[0]
        if got.shape != expected.shape:
            raise MeddlError(f"{path}: ONNX output shape {got.shape} differs from PyTorch's {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def model_card(module, checkpoint: Path) -> dict:
    """The metadata stored with an export: what the model takes, what it returns, and how good it was."""
    from meddl import __version__
    from meddl.tasks.image.module import MEAN, STD

    from meddl.evaluate.operating_point import deployed_rule

    hp = module.hparams
    # the decision the report's operating point describes: tuned on validation where the checkpoint has one
    threshold, rule = deployed_rule(hp.task, getattr(module, "threshold", None),
                                    getattr(module, "threshold_method", None))
    card = {
        "format": FORMAT,
        "meddl_version": __version__,
        "model": hp.model,
        "dataset": hp.dataset,
        "modality": hp.get("modality", "generic"),
        "task": hp.task,
        "labels": list(hp.labels),
        "in_channels": int(hp.in_channels),
        "image_size": int(hp.image_size),
        "spatial_dims": int(hp.get("spatial_dims", 2)),
        "channel_order": "grey" if hp.in_channels == 1 else "RGB",
        "input": {"name": INPUT_NAME, "dtype": "float32",
                  "layout": "NCDHW" if hp.get("spatial_dims", 2) == 3 else "NCHW", "range": [0, 255],
                  "normalisation": f"inside the graph: (x / 255 - {MEAN}) / {STD}"},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "layout": "NC",
                   "meaning": "independent label probabilities" if hp.task == "multi-label"
                   else "class probabilities (rows sum to 1)"},
        "decision_threshold": 0.5 if threshold is None else threshold,  # one per label for multi-label
        "threshold_source": threshold_source(rule),
        "source_checkpoint": checkpoint.name,
    }
    stats = getattr(module, "input_stats", None)
    if stats:  # what the training images looked like: the server's input guards
        card["input_stats"] = stats
    privacy = hp.get("privacy", getattr(module, "privacy", None))
    if privacy is not None:
        card["privacy"] = privacy
    # the test metrics stored in the checkpoint at the end of training; meddl 0.1 checkpoints: the run's metrics.json
    metrics = getattr(module, "evaluation", None) or _run_metrics(checkpoint.resolve().parent.parent / "metrics.json")
    if metrics:
        card["metrics"] = metrics
    return json.loads(json.dumps(card, default=str))  # plain JSON types only, as it reads back


def threshold_source(rule: str) -> str:
    """`deployed_rule`'s "argmax", "default 0.5" or "tuned: METHOD" in words, shown beside every served label."""
    if rule == "argmax":
        return "the class with the highest probability"
    if rule.startswith("tuned: "):
        return f"tuned on the validation split, {rule.removeprefix('tuned: ')}"
    return "the default 0.5"


def _run_metrics(path: Path) -> dict:
    """Test (or val) metrics from the run's metrics.json, for checkpoints that do not carry their own."""
    from meddl.evaluate.results import card_metrics

    if not path.is_file():
        return {}
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return next((card_metrics(payload, split) for split in ("test", "val") if isinstance(payload.get(split), dict)),
                {})


def read_metadata(path: str | Path) -> dict:
    """The model card stored in a meddl ONNX export; a `MeddlError` naming the file if it is not one."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise MeddlError(f"ONNX model {path} not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf raises several types for a damaged file
        raise MeddlError(f"{path}: not a readable ONNX model ({type(error).__name__})") from None
    props = {entry.key: entry.value for entry in proto.metadata_props}
    if METADATA_KEY not in props:
        raise MeddlError(f"{path}: not a meddl ONNX export (no {METADATA_KEY!r} metadata)")
    try:
        return json.loads(props[METADATA_KEY])
    except ValueError:
        raise MeddlError(f"{path}: the {METADATA_KEY!r} metadata is not valid JSON") from None
