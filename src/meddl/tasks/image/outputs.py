"""Image classification as a task: how many outputs a model needs, its loss, and how logits become probabilities.

The model stays task-agnostic (it returns logits); this module says what those logits mean for each task type:
- binary and multi-class: softmax over classes, cross-entropy (binary keeps two outputs, as MedMNIST does);
- multi-label: one independent sigmoid per label, binary cross-entropy;
- ordinal: K-1 cumulative logits for P(y > k), binary cross-entropy on the cumulative targets, so the model learns
  that grade 3 is closer to grade 2 than to grade 0; class probabilities are differences of the cumulative ones.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from meddl.errors import ConfigError

TASKS = ("binary", "multi-class", "multi-label", "ordinal")


def _check(task: str) -> None:
    if task not in TASKS:
        raise ConfigError(f"unknown task type {task!r}; expected one of {', '.join(TASKS)}")


def n_outputs(task: str, n_classes: int) -> int:
    """Width of the model's last layer for this task."""
    _check(task)
    return n_classes - 1 if task == "ordinal" else n_classes


def loss(task: str, logits: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None,
         label_smoothing: float = 0.0):
    """The training loss for a batch of logits and integer (or multi-hot) targets; `label_smoothing` applies to the
    softmax tasks (binary, multi-class)."""
    _check(task)
    logits = logits.float()
    if task == "multi-label":
        return F.binary_cross_entropy_with_logits(logits, targets.float(), pos_weight=class_weights)
    if task == "ordinal":
        thresholds = torch.arange(logits.shape[1], device=logits.device)
        cumulative = (targets.unsqueeze(1) > thresholds).float()
        return F.binary_cross_entropy_with_logits(logits, cumulative)
    return F.cross_entropy(logits, targets, weight=class_weights, label_smoothing=label_smoothing)


def probabilities(task: str, logits: torch.Tensor) -> torch.Tensor:
    """Class (or label) probabilities in the layout the metrics expect: (N, C), or (N, L) for multi-label."""
    _check(task)
    logits = logits.float()
    if task == "multi-label":
        return torch.sigmoid(logits)
    if task == "ordinal":
        greater = torch.sigmoid(logits).cummin(dim=1).values  # P(y > k) must not increase with k
        ones = torch.ones_like(greater[:, :1])
        zeros = torch.zeros_like(greater[:, :1])
        bounds = torch.cat([ones, greater, zeros], dim=1)
        return (bounds[:, :-1] - bounds[:, 1:]).clamp_min(0)
    return torch.softmax(logits, dim=1)


def predicted_labels(task: str, probs: torch.Tensor, threshold: float | list[float] = 0.5) -> torch.Tensor:
    """Hard predictions: class index per sample, or a 0/1 row per sample for multi-label (one threshold, or one per
    label). Binary and multi-label cases are positive when strictly above the threshold, as in MedMNIST."""
    _check(task)
    if task == "multi-label":
        return (probs > torch.as_tensor(threshold, dtype=probs.dtype)).long()
    if task == "binary":
        return (probs[:, 1] > threshold).long()
    return probs.argmax(dim=1)
