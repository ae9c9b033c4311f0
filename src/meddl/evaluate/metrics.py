"""Classification metrics and their bootstrap confidence intervals, as JSON-ready dictionaries.

AUC and ACC follow MedMNIST's own evaluator (`getAUC`, `getACC`) so numbers compare directly with its published
benchmarks; the rest (per-class rates, calibration, ROC curves) is what a clinical report needs beside them.

Every count is a weighted sum over cases. The point estimate gives each case weight one; a bootstrap resample gives
each case the number of times it was drawn. One vectorised code path therefore serves both, and 1000 resamples of a
MedMNIST test set take well under a second instead of the minutes that 1000 calls to scikit-learn would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from meddl.errors import ConfigError, DataError

TASKS = ("binary", "multi-class", "multi-label", "ordinal")
MAX_ROC_POINTS = 200  # keeps metrics.json small; a drawn curve needs no more
SUMMARY_KEYS = ("auc", "acc", "ece", "macro_f1", "balanced_accuracy")  # the headline numbers, with intervals
_CHUNK_CELLS = 4_000_000  # resamples x cases held in memory at once (~32 MB of float64)


@dataclass(frozen=True)
class _Cases:
    """Per-case matrices from which every metric is a weighted sum.

    Columns are one-vs-rest classes (binary, multi-class, ordinal) or labels (multi-label), so one set of formulas
    covers all tasks. The `bin_*` matrices hold, per case, what it adds to each calibration bin.
    """

    task: str
    truth: np.ndarray  # (N, K) 1.0 where the case belongs to column k
    pred: np.ndarray  # (N, K) 1.0 where the case is predicted in column k
    score: np.ndarray  # (N, K) predicted probability of column k
    bin_count: np.ndarray  # (N, B) calibration samples of the case per bin
    bin_conf: np.ndarray  # (N, B) their summed confidence
    bin_hit: np.ndarray  # (N, B) their summed correctness (binary: positive label)
    bin_edges: np.ndarray  # (B + 1,)


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    labels: Sequence[str],
    threshold: float | Sequence[float] = 0.5,
    n_bins: int = 10,
) -> dict:
    """All metrics of one evaluation as a JSON-serialisable dict (undefined values are None, never NaN).

    Keys: auc, acc, ece, macro_f1, balanced_accuracy, n, threshold; per_class (name, support, sensitivity,
    specificity, ppv, npv, f1, auc per class or label); confusion_matrix (C x C, rows true; multi-label: one
    [[tn, fp], [fn, tp]] per label); calibration (bin_edges, bin_confidence, bin_accuracy, bin_count); roc (name,
    fpr, tpr per class; binary: the positive class only). `threshold` applies to binary (positive-class
    probability) and multi-label predictions (there optionally one per label); as in MedMNIST a case is positive only
    when strictly above it.

    Example:
        >>> m = compute_metrics("binary", np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), ["benign", "cancer"])
        >>> m["auc"], m["acc"]
        (1.0, 1.0)
    """
    y_true, y_prob = _validate(task, y_true, y_prob, n_columns=len(labels))
    cases = _prepare(task, y_true, y_prob, threshold, n_bins)
    s = {key: value[0] for key, value in _summarise(cases, np.ones((1, len(y_true)))).items()}
    tp, fp, fn, tn = s["tp"], s["fp"], s["fn"], s["tn"]
    rates = {
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "auc": s["class_auc"],
    }
    per_class = [
        {"name": str(name), "support": int(tp[k] + fn[k]), **{key: _num(rate[k]) for key, rate in rates.items()}}
        for k, name in enumerate(labels)
    ]
    if task == "multi-label":
        confusion = [[[int(tn[k]), int(fp[k])], [int(fn[k]), int(tp[k])]] for k in range(len(labels))]
    else:
        confusion = (cases.truth.T @ cases.pred).astype(int).tolist()
    count = s["bin_count"]
    calibration = {
        "bin_edges": cases.bin_edges.tolist(),
        "bin_confidence": [_num(v) for v in _ratio(s["bin_conf"], count)],
        "bin_accuracy": [_num(v) for v in _ratio(s["bin_hit"], count)],
        "bin_count": count.astype(int).tolist(),
    }
    roc_columns = [1] if task == "binary" else range(len(labels))
    roc = []
    for k in roc_columns:
        fpr, tpr = _roc_curve(cases.truth[:, k], cases.score[:, k])
        roc.append({"name": str(labels[k]), "fpr": fpr, "tpr": tpr})
    return {
        **{key: _num(s[key]) for key in SUMMARY_KEYS},
        "n": len(y_true),
        "threshold": np.asarray(threshold, dtype=float).tolist(),
        "per_class": per_class,
        "confusion_matrix": confusion,
        "calibration": calibration,
        "roc": roc,
    }


def bootstrap_ci(
    task: str,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    threshold: float | Sequence[float] = 0.5,
    n_bins: int = 10,
) -> dict[str, list[float | None]]:
    """Percentile bootstrap intervals, {"auc": [low, high], ...}, for auc, acc, ece, macro_f1 and balanced_accuracy.

    Cases are resampled with replacement. A resample in which the AUC of a class that has one in the full data
    becomes undefined (the class, or every other class, was not drawn) is skipped for AUC, so every AUC in the
    interval averages the same classes. A metric with no usable resample gets [None, None].
    """
    if n_boot < 1 or not 0 < alpha < 1:
        raise ConfigError(f"bootstrap: expected n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    y_true, y_prob = _validate(task, y_true, y_prob)
    cases = _prepare(task, y_true, y_prob, threshold, n_bins)
    n = len(y_true)
    defined = ~np.isnan(_summarise(cases, np.ones((1, n)))["class_auc"][0])
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {key: [] for key in SUMMARY_KEYS}
    per_chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_boot, per_chunk):
        rows = min(per_chunk, n_boot - start)
        picks = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
        weights = np.bincount(picks.ravel(), minlength=rows * n).reshape(rows, n).astype(float)
        s = _summarise(cases, weights)
        s["auc"][np.isnan(s["class_auc"][:, defined]).any(axis=1)] = np.nan
        for key in SUMMARY_KEYS:
            draws[key].append(s[key])
    intervals = {}
    for key in SUMMARY_KEYS:
        values = np.concatenate(draws[key])
        values = values[~np.isnan(values)]
        bounds = np.percentile(values, [50 * alpha, 100 - 50 * alpha]) if values.size else [np.nan, np.nan]
        intervals[key] = [_num(bound) for bound in bounds]
    return intervals


def _validate(
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


def _prepare(task: str, y_true: np.ndarray, y_prob: np.ndarray, threshold: float | Sequence[float],
             n_bins: int) -> _Cases:
    """Predictions and calibration samples as per-case matrices; the MedMNIST decision rules live here."""
    if n_bins < 1:
        raise ConfigError(f"n_bins: expected at least 1 calibration bin, got {n_bins}")
    if task == "multi-label":
        truth, pred, conf, hit = y_true, y_prob > np.asarray(threshold), y_prob, y_true
    else:
        eye = np.eye(y_prob.shape[1])
        label = (y_prob[:, 1] > threshold).astype(int) if task == "binary" else y_prob.argmax(axis=1)
        truth, pred = eye[y_true], eye[label]
        if task == "binary":  # calibration of the positive-class probability
            conf, hit = y_prob[:, 1:], y_true[:, None]
        else:  # top-label calibration: confidence of the predicted class against being right
            conf, hit = y_prob.max(axis=1, keepdims=True), (label == y_true)[:, None]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # [lo, hi), 1.0 in the last; 0.7 in [0.7, 0.8)
    member = bins[..., None] == np.arange(n_bins)  # (N, M, B)
    return _Cases(
        task=task,
        truth=truth.astype(float),
        pred=pred.astype(float),
        score=y_prob,
        bin_count=member.sum(axis=1).astype(float),
        bin_conf=(member * conf[..., None]).sum(axis=1),
        bin_hit=(member * hit[..., None]).sum(axis=1),
        bin_edges=edges,
    )


def _summarise(cases: _Cases, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Counts and metrics for each row of case weights (R, N); returns (R,) or (R, K) arrays, NaN where undefined."""
    t, p = cases.truth, cases.pred
    tp, fp, fn = weights @ (t * p), weights @ ((1 - t) * p), weights @ (t * (1 - p))
    n = weights.sum(axis=1)
    tn = n[:, None] - tp - fp - fn
    sensitivity = _ratio(tp, tp + fn)
    class_auc = _auc(t, cases.score, weights)
    if cases.task == "multi-label":  # MedMNIST: mean per-label accuracy; balanced accuracy likewise per label
        acc = ((tp + tn) / n[:, None]).mean(axis=1)
        balanced = _nanmean(np.stack([sensitivity, _ratio(tn, tn + fp)]), axis=0).mean(axis=1)
    else:
        acc = tp.sum(axis=1) / n
        balanced = _nanmean(sensitivity, axis=1)
    count, conf, hit = weights @ cases.bin_count, weights @ cases.bin_conf, weights @ cases.bin_hit
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn, "class_auc": class_auc,
        "bin_count": count, "bin_conf": conf, "bin_hit": hit,
        "auc": class_auc[:, 1] if cases.task == "binary" else _nanmean(class_auc, axis=1),
        "acc": acc,
        "ece": np.abs(hit - conf).sum(axis=1) / count.sum(axis=1),
        "macro_f1": _nanmean(_ratio(2 * tp, 2 * tp + fp + fn), axis=1),
        "balanced_accuracy": balanced,
    }


def _auc(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of each column (truth (N, K) vs score (N, K)) for each row of case weights (R, N) -> (R, K).

    AUC is the Mann-Whitney U statistic scaled to [0, 1]: the fraction of (positive, negative) pairs in which the
    positive scores higher, a tie counting one half (the average-rank rule, as in roc_auc_score). Each positive is
    credited the negative weight below its group of tied scores plus half of that within it, read off one
    cumulative sum of negative weights; duplicated cases in a resample are handled by their weights. NaN where a
    column has no positives or no negatives.
    """
    out = np.empty((len(weights), truth.shape[1]))
    for k in range(truth.shape[1]):
        order = np.argsort(score[:, k], kind="stable")
        ranked, positive = score[order, k], truth[order, k] == 1
        new_group = np.r_[True, ranked[1:] != ranked[:-1]]
        bounds = np.r_[np.flatnonzero(new_group), len(ranked)]  # tie group g spans bounds[g]:bounds[g + 1]
        group = (np.cumsum(new_group) - 1)[positive]
        negatives_before = np.r_[0, np.cumsum(~positive)]  # negatives among the first i sorted cases
        below, through = negatives_before[bounds[group]], negatives_before[bounds[group + 1]]
        neg_cum = np.zeros((len(weights), (~positive).sum() + 1))
        np.cumsum(np.take(weights, order[~positive], axis=1), axis=1, out=neg_cum[:, 1:])
        pos_weight = np.take(weights, order[positive], axis=1)
        credit = (pos_weight * (np.take(neg_cum, below, axis=1) + np.take(neg_cum, through, axis=1))).sum(axis=1)
        out[:, k] = _ratio(0.5 * credit, pos_weight.sum(axis=1) * neg_cum[:, -1])
    return out


def _roc_curve(truth: np.ndarray, score: np.ndarray) -> tuple[list[float], list[float]]:
    """(fpr, tpr) at every distinct threshold, as sklearn's roc_curve, thinned to at most MAX_ROC_POINTS.

    Collinear points are dropped first (lossless), then points are taken evenly by index, keeping both ends.
    Empty lists when the curve is undefined (only one label value present).
    """
    n_pos = truth.sum()
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return [], []
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    last = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]  # last case of each tie group
    tps = np.cumsum(truth[order])[last]
    fps = last + 1 - tps
    bends = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))  # interior points where the slope changes
    corners = np.flatnonzero(np.r_[True, bends, True][: len(fps)])  # slice: a single threshold has one point
    fpr, tpr = np.r_[0.0, fps[corners] / n_neg], np.r_[0.0, tps[corners] / n_pos]
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), MAX_ROC_POINTS)).round().astype(int))
    return fpr[keep].tolist(), tpr[keep].tolist()


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN for 0/0, without warnings: an undefined rate, not an error."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den != 0)


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the defined entries (NaN where none is), silently: averaging only what exists is intended."""
    defined = ~np.isnan(x)
    return _ratio(np.where(defined, x, 0.0).sum(axis=axis), defined.sum(axis=axis))


def _num(value: float) -> float | None:
    """A Python float for JSON, or None for an undefined (NaN) value."""
    return None if np.isnan(value) else float(value)
