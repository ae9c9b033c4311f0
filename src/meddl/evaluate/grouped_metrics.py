"""Metrics for ECG beat and text classification, with cluster-bootstrap confidence intervals.

Per class: sensitivity (Se, recall), positive predictive value (+P, precision) and F1, as the ECG literature reports
them (AAMI EC57; de Chazal et al. 2004); overall: accuracy, macro-F1 and support-weighted F1. Macro- and weighted F1
average over the *scored* classes: N, S, V and F for ECG (Q, unclassifiable beats, is left out as in the
literature), every class for text. A class with neither cases nor predictions has no F1 and is left out of the
averages (scikit-learn's `zero_division=nan`).

Confidence intervals resample whole groups, not single samples: for ECG a group is a record (one patient), because
the beats of one patient are strongly correlated, and resampling beats would give intervals far too narrow for a
new patient; for text a group is the source document. Each resample's metrics are computed from the sum of the drawn
groups' confusion matrices, which is exact and fast (1000 resamples of 50,000 beats in milliseconds); the point
estimates come from scikit-learn and agree with the same formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from meddl.errors import ConfigError, DataError
from meddl.evaluate.bootstrap import percentile_interval, ratio


def classification_metrics(y_true: np.ndarray, y_prob: np.ndarray, labels: Sequence[str],
                           scored: Sequence[str]) -> dict:
    """Point metrics as a JSON-ready dict: acc, macro_f1, weighted_f1 (over `scored`), n, scored_labels,
    per_class {label: {sensitivity, ppv, f1, support}} (None where undefined), confusion_matrix (rows true)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    y_true, y_pred = _check(y_true, y_prob, labels)
    every = list(range(len(labels)))
    scored_idx = [list(labels).index(name) for name in scored]
    ppv, sensitivity, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=every, zero_division=np.nan)
    return {
        "acc": float(accuracy_score(y_true, y_pred)),
        "macro_f1": _num(f1_score(y_true, y_pred, labels=scored_idx, average="macro", zero_division=np.nan)),
        "weighted_f1": _num(f1_score(y_true, y_pred, labels=scored_idx, average="weighted", zero_division=np.nan)),
        "n": int(len(y_true)),
        "scored_labels": list(scored),
        "per_class": {
            str(name): {"sensitivity": _num(sensitivity[k]), "ppv": _num(ppv[k]), "f1": _num(f1[k]),
                        "support": int(support[k])}
            for k, name in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=every).tolist(),
    }


def bootstrap_ci(y_true: np.ndarray, y_prob: np.ndarray, groups: Sequence[str], labels: Sequence[str],
                 scored: Sequence[str], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict:
    """Percentile intervals from a cluster bootstrap over `groups` (records or documents; see the module note):
    {"acc": [low, high], "macro_f1": ..., "weighted_f1": ..., "per_class": {label: {"sensitivity": [low, high],
    "ppv": ..., "f1": ...}}}. A value undefined in a resample (the class was not drawn) is left out of that
    resample; a metric with no defined value gets [None, None]."""
    if n_boot < 1 or not 0 < alpha < 1:
        raise ConfigError(f"bootstrap: expected n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    y_true, y_pred = _check(y_true, y_prob, labels)
    groups = np.asarray(groups)
    if len(groups) != len(y_true):
        raise DataError(f"groups: expected one per sample ({len(y_true)}), got {len(groups)}")
    k = len(labels)
    _, group_index = np.unique(groups, return_inverse=True)
    n_groups = int(group_index.max()) + 1
    cells = np.zeros((n_groups, k * k))
    np.add.at(cells, (group_index, y_true * k + y_pred), 1)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_groups, size=(n_boot, n_groups))
    weights = np.stack([np.bincount(row, minlength=n_groups) for row in picks]).astype(float)
    values = _from_confusion((weights @ cells).reshape(n_boot, k, k), [list(labels).index(s) for s in scored])
    bounds = {key: percentile_interval(draws, alpha) for key, draws in values.items() if key != "per_class"}
    bounds["per_class"] = {
        str(name): {key: percentile_interval(draws[:, j], alpha) for key, draws in values["per_class"].items()}
        for j, name in enumerate(labels)
    }
    return bounds


def _from_confusion(cm: np.ndarray, scored: list[int]) -> dict:
    """Metrics of each confusion matrix in a stack (R, K, K), rows true; NaN where undefined."""
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support, predicted = cm.sum(axis=2), cm.sum(axis=1)
    f1 = ratio(2 * tp, support + predicted)
    scored_f1, scored_support = f1[:, scored], support[:, scored]
    defined = ~np.isnan(scored_f1)
    weighted = ratio(np.where(defined, scored_f1 * scored_support, 0).sum(axis=1), scored_support.sum(axis=1))
    return {
        "acc": ratio(tp.sum(axis=1), cm.sum(axis=(1, 2))),
        "macro_f1": ratio(np.where(defined, scored_f1, 0).sum(axis=1), defined.sum(axis=1)),
        "weighted_f1": weighted,
        "per_class": {"sensitivity": ratio(tp, support), "ppv": ratio(tp, predicted), "f1": f1},
    }


def _check(y_true: np.ndarray, y_prob: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(true class indices, predicted class indices), after checking the shapes agree."""
    y_true, y_prob = np.asarray(y_true).astype(int), np.asarray(y_prob, dtype=float)
    if y_prob.ndim != 2 or y_prob.shape != (len(y_true), len(labels)) or len(y_true) == 0:
        raise DataError(f"y_prob: expected shape ({len(y_true)}, {len(labels)}) (samples, classes), "
                        f"got {y_prob.shape}")
    if y_true.min() < 0 or y_true.max() >= len(labels):
        raise DataError(f"y_true: expected class indices 0..{len(labels) - 1}, got {np.unique(y_true)[:10].tolist()}")
    return y_true, y_prob.argmax(axis=1)


def _num(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)
