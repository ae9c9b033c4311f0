"""Decision thresholds tuned on the validation split, for binary and multi-label tasks.

A fixed 0.5 rarely suits a medical classifier: class imbalance, weighted losses and DP noise all move the useful
operating point (a DP-trained PneumoniaMNIST model scores AUC 0.93 yet predicts one class for everything at 0.5).
The threshold is chosen on validation data only, so the test figures at it stay honest, and it is stored in the
checkpoint so that `predict`, `export` and the HTTP API decide with the same operating point the report shows.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from meddl.errors import ConfigError

THRESHOLD_TASKS = ("binary", "multi-label")


def choose_threshold(y_true: np.ndarray, scores: np.ndarray, target_sensitivity: float | None = None) -> float:
    """One threshold for positive-class `scores`: Youden's J (max sensitivity + specificity − 1) by default, or
    the highest threshold whose sensitivity reaches `target_sensitivity` (a screening setting: miss few cases).

    With a single class present in `y_true` nothing can be tuned and 0.5 is returned.
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if len(np.unique(y_true)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(y_true, scores, drop_intermediate=False)
    finite = np.isfinite(thresholds)  # sklearn's first threshold is +inf (nothing positive)
    fpr, tpr, thresholds = fpr[finite], tpr[finite], thresholds[finite]
    if target_sensitivity is None:
        best = int(np.argmax(tpr - fpr))
    else:
        reaching = np.flatnonzero(tpr >= target_sensitivity)
        best = int(reaching[0])  # thresholds fall as tpr rises: the first reaching it is the highest
    # sklearn's cut is "score >= t", meddl's (as MedMNIST's) "score > t": cut halfway to the next lower score, so
    # both readings classify every case alike
    lower = thresholds[best + 1] if best + 1 < len(thresholds) else np.nextafter(thresholds[best], -np.inf)
    return float(np.clip((thresholds[best] + lower) / 2, 0.0, 1.0))


def tune_thresholds(task: str, y_true: np.ndarray, y_prob: np.ndarray,
                    target_sensitivity: float | None = None) -> float | list[float] | None:
    """The tuned operating point for a task: a float (binary, on the positive class), a list with one threshold per
    label (multi-label), or None where the decision is an argmax (multi-class, ordinal)."""
    if target_sensitivity is not None and not 0 < target_sensitivity <= 1:
        raise ConfigError(f"target sensitivity must be in (0, 1], got {target_sensitivity}")
    if task == "binary":
        return choose_threshold(y_true, np.asarray(y_prob)[:, 1], target_sensitivity)
    if task == "multi-label":
        return [choose_threshold(y_true[:, k], y_prob[:, k], target_sensitivity) for k in range(y_prob.shape[1])]
    return None


def method_name(target_sensitivity: float | None) -> str:
    return "youden" if target_sensitivity is None else f"sensitivity>={target_sensitivity:g}"
