"""The input conventions every classification metric relies on, checked once with messages that name what was
expected and what was found: probabilities (N, K) in [0, 1], rows summing to 1 except for multi-label; labels (N,)
class indices (MedMNIST's (N, 1) accepted) or (N, K) 0/1 for multi-label."""

from __future__ import annotations

import numpy as np

from meddl.errors import ConfigError, DataError

TASKS = ("binary", "multi-class", "multi-label", "ordinal")


def validate(
    task: str, y_true: np.ndarray, y_prob: np.ndarray, n_columns: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check the layout conventions, naming expected and found, and return (int labels, float64 probabilities)."""
    if task not in TASKS:
        raise ConfigError(f"task: expected one of {', '.join(TASKS)}, got {task!r}")
    y_true, y_prob = np.asarray(y_true), np.asarray(y_prob, dtype=float)
    what = "labels" if task == "multi-label" else "classes"
    if y_prob.ndim != 2 or len(y_prob) == 0:
        raise DataError(f"y_prob: expected a non-empty 2-D array (samples, {what}), got shape {y_prob.shape}")
    n, k = y_prob.shape
    if task != "multi-label" and y_true.shape == (n, 1):
        y_true = y_true[:, 0]  # MedMNIST stores class labels as (N, 1)
    expected = (n, k) if task == "multi-label" else (n,)
    if y_true.shape != expected:
        raise DataError(f"y_true: expected shape {expected} to match y_prob {y_prob.shape}, got {y_true.shape}")
    if n_columns is not None and k != n_columns:
        raise DataError(f"y_prob: expected {n_columns} columns, one per name in labels, got {k}")
    if task == "binary" and k != 2:
        raise DataError(f"y_prob: a binary task expects 2 columns (P(class 0), P(class 1)), got {k}")
    if not np.isfinite(y_prob).all():
        raise DataError("y_prob: expected finite probabilities in [0, 1], got NaN or infinity")
    if y_prob.min() < 0 or y_prob.max() > 1:
        low, high = y_prob.min(), y_prob.max()
        raise DataError(f"y_prob: expected probabilities in [0, 1], got values from {low:.4g} to {high:.4g}")
    if task != "multi-label":
        worst = np.abs(y_prob.sum(axis=1) - 1).max()
        if worst > 1e-2:
            raise DataError(f"y_prob: expected rows summing to 1 for a {task} task, got a row off by {worst:.3g}")
    allowed = 2 if task == "multi-label" else k
    if not np.isin(y_true, np.arange(allowed)).all():
        found = np.unique(y_true)
        raise DataError(f"y_true: expected integer values 0..{allowed - 1}, got {found[:10].tolist()}")
    return y_true.astype(int), y_prob
