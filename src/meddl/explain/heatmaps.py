"""Heatmaps of where a trained classifier looked: Grad-CAM, Grad-CAM++ and occlusion, all from MONAI.

- Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhyay et al. 2018) weight the feature maps of the
  model's registered `cam_layer` by the gradient of the target class score: one backward pass per batch, coarse
  (the layer's resolution, upsampled), the usual first look.
- Occlusion (Zeiler & Fergus 2014) hides a window at each place in turn and records how much the target's log
  probability drops: model-agnostic and easy to trust, but one forward pass per window, so slower. The log keeps
  confident predictions informative: a probability rounded to 1.0 would not move at all.

Every map is scaled so that its maximum is 1 and 0 means "no evidence for the target"; a map with no positive
evidence at all stays 0 rather than having noise stretched to full range.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from meddl.errors import ConfigError, DataError
from meddl.explain import METHODS
from meddl.models.ensemble import explained_networks
from meddl.tasks.image import outputs as classification

CHUNK = 64  # images per Grad-CAM pass: bounds memory for large models at 224 px


class _ClassScores(nn.Module):
    """The network with one score per class (or label), the quantity an explanation differentiates.

    Logits are the class scores for binary, multi-class and multi-label models, as in the Grad-CAM paper. An
    ordinal model's outputs are cumulative logits P(y > k), not classes, so there the score of class k is its log
    probability.
    """

    def __init__(self, net: nn.Module, task: str):
        super().__init__()
        self.net = net
        self.task = task

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.net(images)
        return _log_probabilities(self.task, logits) if self.task == "ordinal" else logits


def _log_probabilities(task: str, logits: torch.Tensor) -> torch.Tensor:
    """Log class (or label) probabilities, computed stably where the task allows it."""
    logits = logits.float()
    if task == "multi-label":
        return F.logsigmoid(logits)
    if task == "ordinal":
        return classification.probabilities(task, logits).clamp_min(1e-12).log()
    return F.log_softmax(logits, dim=1)


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r}: expected one of {', '.join(METHODS)}")


def check_target(target: int, labels: list[str]) -> None:
    if not 0 <= target < len(labels):
        raise ConfigError(f"target class {target} is out of range: the model has {len(labels)} classes "
                          f"(0-{len(labels) - 1}: {', '.join(labels)})")


def default_targets(task: str, probs: np.ndarray) -> np.ndarray:
    """The class each image is explained for when none is asked: the predicted one (for binary that is the
    positive class unless the prediction is negative); for multi-label, the most probable label."""
    if task == "multi-label":
        return probs.argmax(axis=1)
    return classification.predicted_labels(task, torch.from_numpy(probs)).numpy()


def explain_images(
    module, images_uint8_nhwc: np.ndarray, method: str = "gradcam", target: int | None = None
) -> np.ndarray:
    """Heatmaps float32 (N, H, W) in [0, 1] at the model's input size, for uint8 images (N, H, W, C); for a model
    of volumes, (N, D, H, W) maps for uint8 volumes (N, D, H, W, C).

    `module` is a trained `ImageClassifier` (see `meddl.tasks.image.load_classifier`). Images of another
    size or channel count are matched to the model first, as `predict` does. `target` is the class (or label)
    index to explain for every image; by default each image is explained for its predicted class.

    Example: ``heat = explain_images(load_classifier("best.ckpt"), images, "gradcam++")``.
    """
    from meddl.data.tensors import channels_first
    from meddl.inference import prepare_image

    check_method(method)
    hp = module.hparams
    dims = hp.get("spatial_dims", 2)
    shape = (hp.image_size,) * dims
    images = _checked(images_uint8_nhwc, dims)
    if len(images) == 0:
        return np.zeros((0, *shape), dtype=np.float32)
    if images.shape[1:] != (*shape, hp.in_channels):
        if dims == 3:
            raise DataError(f"volumes of shape {images.shape[1:]} given; the model takes {(*shape, hp.in_channels)}")
        images = np.stack([prepare_image(image, hp.in_channels, hp.image_size) for image in images])
    uint8 = channels_first(images)
    probs = module.predict_proba(uint8)
    if target is None:
        targets = default_targets(hp.task, probs)
    else:
        check_target(target, list(hp.labels))
        targets = np.full(len(images), target)
    x = module.normalise(uint8.to(module.device))
    if method == "occlusion":
        maps = _occlusion(module.net, hp.task, x, targets)
    else:
        # an ensemble's map is the mean of its members' (each scaled to a maximum of 1 first); test-time
        # augmentation is not explained: the maps are those of the image as given
        maps = np.mean([_unit_max(_grad_cam(net, hp.model, hp.task, x, targets, plus=method == "gradcam++"))
                        for net in explained_networks(module.net)], axis=0)
    return _unit_max(maps)


def _checked(images, spatial_dims: int = 2) -> np.ndarray:
    valid = isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == spatial_dims + 2
    if not valid or images.shape[-1] not in (1, 3):
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        expected = "(N, H, W, C)" if spatial_dims == 2 else "(N, D, H, W, C) of volumes"
        raise DataError(f"images must be a uint8 array {expected} with C = 1 or 3, got {dtype} of shape {shape}")
    return images


def _grad_cam(net: nn.Module, model: str, task: str, x: torch.Tensor, targets: np.ndarray, plus: bool) -> np.ndarray:
    """Grad-CAM(++) maps (N, H, W), or (N, D, H, W) for volumes, one MONAI pass per target class.

    MONAI scores a batch as `logits[:, class_idx]`, which mixes classes when `class_idx` differs between samples,
    so images are grouped by target. MONAI's Grad-CAM++ multiplies the (B,) scores into (B, C, H, W) gradients
    without aligning the batch axis, so Grad-CAM++ goes one image at a time. The network is copied because
    MONAI's hooks cannot be removed: the caller's model stays untouched however often it is explained (the HTTP
    server explains one model for every request).
    """
    from monai.visualize import GradCAM, GradCAMpp

    from meddl.models.registry import model_info

    layer = model_info(model).cam_layer
    if not layer:
        raise ConfigError(f"model {model!r} registers no Grad-CAM layer; explain it with method 'occlusion'")
    scores = _ClassScores(copy.deepcopy(net), task)
    cam = (GradCAMpp if plus else GradCAM)(scores, target_layers=f"net.{layer}", postprocessing=lambda m: m)
    step = 1 if plus else CHUNK
    maps = np.zeros((len(x), *x.shape[2:]), dtype=np.float32)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            for cls in np.unique(targets):
                members = np.flatnonzero(targets == cls)
                for chunk in (members[start : start + step] for start in range(0, len(members), step)):
                    # An input that requires grad keeps the graph even if the caller froze the weights.
                    batch = x[torch.from_numpy(chunk).to(x.device)].detach().clone().requires_grad_(True)
                    maps[chunk] = cam(batch, class_idx=int(cls))[:, 0].detach().float().cpu().numpy()
    finally:
        _release(cam, scores)
    return maps


def _release(cam, scores: nn.Module) -> None:
    """Free the copy a Grad-CAM pass made. MONAI keeps the last activations and gradients, whose autograd graph
    holds the hooks, which hold MONAI's wrapper, which holds the copied network: a cycle through C++ autograd
    nodes that Python's garbage collector cannot see, so without this every explanation kept a network alive (the
    server grew 2.4 MB a request)."""
    hooks = cam.nn_module
    hooks.activations.clear()
    hooks.gradients.clear()
    hooks.score = None
    for module in scores.modules():
        module._forward_hooks.clear()
        module._backward_hooks.clear()


def _occlusion(net: nn.Module, task: str, x: torch.Tensor, targets: np.ndarray) -> np.ndarray:
    """How much the target's log probability drops when each place is hidden: MONAI fades a window a quarter of the
    image wide towards mid-grey (Gaussian-weighted), moved by half its width; one image at a time."""
    from monai.visualize import OcclusionSensitivity

    occlusion = OcclusionSensitivity(
        net, mask_size=max(3, x.shape[-1] // 4), n_batch=32, verbose=False, overlap=0.5,
        activate=lambda logits: _log_probabilities(task, logits),
    )
    maps = np.zeros((len(x), *x.shape[2:]), dtype=np.float32)
    with torch.no_grad(), warnings.catch_warnings():
        # MONAI 1.x indexes with lists, which torch deprecates; the result is still correct.
        warnings.filterwarnings("ignore", message=r".*non-tuple sequence for multidimensional indexing.*")
        unoccluded = _log_probabilities(task, net(x))
        for i, cls in enumerate(targets):
            occluded, _ = occlusion(x[i : i + 1])
            maps[i] = (unoccluded[i, cls] - occluded[0, cls]).float().cpu().numpy()
    return maps


def _unit_max(maps: np.ndarray) -> np.ndarray:
    """Clip negative evidence and scale each map so its maximum is 1 (all-zero maps stay zero)."""
    maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0).clip(min=0)
    peak = maps.reshape(len(maps), -1).max(axis=1)
    scale = np.where(peak > 0, peak, 1.0)
    return (maps / scale.reshape(-1, *[1] * (maps.ndim - 1))).astype(np.float32)
