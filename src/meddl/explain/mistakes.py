"""Grad-CAM on the test images a model got most confidently wrong: the report's "Why" section.

Confident mistakes are where a reviewer learns most (a shortcut such as a text marker, a ruler or the image border
shows up there first), and one small batch of them costs little next to the rest of the evaluation.
"""

from __future__ import annotations

import numpy as np

from meddl.explain.heatmaps import explain_images
from meddl.explain.overlay import overlay_png

MAX_SHOWN = 8
SIZE = 160  # px per overlay in the report: eight fit in two rows of a page


def explain_mistakes(
    module, images: np.ndarray, y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5,
    limit: int = MAX_SHOWN,
) -> list[tuple[str, bytes]] | None:
    """(caption, overlay PNG) for up to `limit` wrong predictions, most confident first, each explained for the
    class it was wrongly given (multi-label: its most confident wrong label). None when the model registers no
    Grad-CAM layer; an empty list when nothing was wrong."""
    from meddl.evaluate.figures import predictions
    from meddl.models.registry import model_info

    hp = module.hparams
    if not model_info(hp.model).cam_layer:
        return None
    labels = list(hp.labels)
    pred, correct, confidence = predictions(y_true, y_prob, hp.task, threshold)
    wrong = np.flatnonzero(~correct)
    chosen = wrong[np.argsort(-confidence[wrong], kind="stable")][:limit]
    if hp.task == "multi-label":
        sure = np.where(pred == 1, y_prob, 1 - y_prob)
        targets = np.where(pred != y_true, sure, -1).argmax(axis=1)
    else:
        targets = pred
    heatmaps = np.zeros((len(chosen), *images.shape[1:-1]), dtype=np.float32)
    for cls in np.unique(targets[chosen]):
        group = targets[chosen] == cls
        heatmaps[group] = explain_images(module, images[chosen[group]], "gradcam", int(cls))
    return [(_caption(i, y_true, y_prob, targets, labels, hp.task), _overlay(images[i], heat, hp.modality))
            for i, heat in zip(chosen, heatmaps)]


def _overlay(image: np.ndarray, heat: np.ndarray, modality: str) -> bytes:
    """The overlay PNG of one image, or of a volume's three planes (its heatmap shown the same way), each plane as
    large as a flat image's overlay."""
    if image.ndim == 3:
        return overlay_png(image, heat, SIZE)
    from meddl.tasks.image.planes import plane_view, projects

    project = projects(modality)
    return overlay_png(plane_view(image, project), plane_view(heat, project), 3 * SIZE)


def _caption(i: int, y_true: np.ndarray, y_prob: np.ndarray, targets: np.ndarray, labels: list[str], task: str) -> str:
    cls = int(targets[i])
    if task == "multi-label":
        truth = "present" if y_true[i, cls] else "absent"
        return f"{labels[cls]}: truly {truth}, p = {y_prob[i, cls]:.2f}"
    return f"true {labels[int(y_true[i])]} · predicted {labels[cls]} (p = {y_prob[i, cls]:.2f})"
