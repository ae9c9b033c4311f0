"""Classification metrics and their bootstrap confidence intervals, as JSON-ready dictionaries.

AUC and ACC follow MedMNIST's own evaluator (`getAUC`, `getACC`) so numbers compare directly with its published
benchmarks; the rest (per-class rates, AUPRC, Brier score, calibration, ROC and PR curves, and for ordinal grades
the quadratic-weighted kappa and mean absolute error) is what a clinical report needs beside them. Every number
equals its scikit-learn counterpart; the tests check each one.

Every count is a weighted sum over cases, so one vectorised code path gives both the point estimate (all weights
one) and 1000 bootstrap resamples at once (weights = how often each case was drawn; see `meddl.evaluate.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from meddl.errors import ConfigError
from meddl.evaluate.bootstrap import check_options, nanmean, num, percentile_interval, ratio, resample_weights
from meddl.evaluate.curves import pr_points, roc_points, tpr_at, weighted_ranking
from meddl.evaluate.inputs import validate

# the headline numbers, with intervals; ordinal grades add ORDINAL_KEYS
SUMMARY_KEYS = ("auc", "auprc", "acc", "ece", "brier", "macro_f1", "balanced_accuracy")
ORDINAL_KEYS = ("qwk", "mae")
RATES = ("sensitivity", "specificity", "ppv", "npv", "f1")  # per class, at the decision threshold
THRESHOLD_KEYS = ("acc", "balanced_accuracy", "macro_f1")  # the summary numbers that depend on the threshold
ROC_BAND_FPR = np.linspace(0.0, 1.0, 101)  # where the ROC confidence band is read off


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
    brier: np.ndarray  # (N,) the case's squared error (see `compute_metrics`)
    grade_error: np.ndarray  # (N,) predicted minus true class index (ordinal grades; 0 for multi-label)
    bin_count: np.ndarray  # (N, B) calibration samples of the case per bin
    bin_conf: np.ndarray  # (N, B) their summed confidence
    bin_hit: np.ndarray  # (N, B) their summed correctness (binary: positive label)
    bin_edges: np.ndarray  # (B + 1,)


def summary_keys(task: str) -> tuple[str, ...]:
    """The headline metrics of a task: SUMMARY_KEYS, and ORDINAL_KEYS for ordinal grades."""
    return SUMMARY_KEYS + (ORDINAL_KEYS if task == "ordinal" else ())


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    labels: Sequence[str],
    threshold: float | Sequence[float] = 0.5,
    n_bins: int = 10,
) -> dict:
    """All metrics of one evaluation as a JSON-serialisable dict (undefined values are None, never NaN).

    Keys: auc, auprc, acc, ece, brier, macro_f1, balanced_accuracy (ordinal also qwk, mae), n, threshold;
    per_class (name, support, sensitivity, specificity, ppv, npv, f1, auc, auprc per class or label);
    confusion_matrix (C x C, rows true; multi-label: one [[tn, fp], [fn, tp]] per label); calibration (bin_edges,
    bin_confidence, bin_accuracy, bin_count); roc (name, fpr, tpr) and pr (name, recall, precision) per class
    (binary: the positive class only). `threshold` applies to binary (positive-class probability) and multi-label
    predictions (there optionally one per label); as in MedMNIST a case is positive only when strictly above it.

    auprc is average precision (average_precision_score), of the positive class, or averaged over the classes
    one-vs-rest (the labels for multi-label) that have positive cases. brier is the mean squared error of the probabilities: binary, of the positive class
    (brier_score_loss); multi-class and ordinal, summed over the one-hot classes (sklearn's multi-class
    brier_score_loss, 0 to 2); multi-label, averaged over labels. qwk is Cohen's kappa with quadratic weights and
    mae the mean absolute error of the predicted grade (argmax), in grades.

    Example:
        >>> m = compute_metrics("binary", np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), ["benign", "cancer"])
        >>> m["auc"], m["acc"]
        (1.0, 1.0)
    """
    y_true, y_prob = validate(task, y_true, y_prob, n_columns=len(labels))
    cases = _prepare(task, y_true, y_prob, threshold, n_bins)
    s = {key: value[0] for key, value in _summarise(cases, np.ones((1, len(y_true)))).items()}
    columns = {**{rate: s[rate] for rate in RATES}, "auc": s["class_auc"], "auprc": s["class_auprc"]}
    per_class = [
        {"name": str(name), "support": int(s["tp"][k] + s["fn"][k]), **{key: num(v[k]) for key, v in columns.items()}}
        for k, name in enumerate(labels)
    ]
    if task == "multi-label":
        tp, fp, fn, tn = s["tp"], s["fp"], s["fn"], s["tn"]
        confusion = [[[int(tn[k]), int(fp[k])], [int(fn[k]), int(tp[k])]] for k in range(len(labels))]
    else:
        confusion = (cases.truth.T @ cases.pred).astype(int).tolist()
    count = s["bin_count"]
    calibration = {
        "bin_edges": cases.bin_edges.tolist(),
        "bin_confidence": [num(v) for v in ratio(s["bin_conf"], count)],
        "bin_accuracy": [num(v) for v in ratio(s["bin_hit"], count)],
        "bin_count": count.astype(int).tolist(),
    }
    roc, pr = [], []
    for k in curve_columns(task, len(labels)):
        fpr, tpr = roc_points(cases.truth[:, k], cases.score[:, k])
        recall, precision = pr_points(cases.truth[:, k], cases.score[:, k])
        roc.append({"name": str(labels[k]), "fpr": fpr, "tpr": tpr})
        pr.append({"name": str(labels[k]), "recall": recall, "precision": precision})
    return {
        **{key: num(s[key]) for key in summary_keys(task)},
        "n": len(y_true),
        "threshold": np.asarray(threshold, dtype=float).tolist(),
        "per_class": per_class,
        "confusion_matrix": confusion,
        "calibration": calibration,
        "roc": roc,
        "pr": pr,
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
    """Percentile bootstrap intervals, {"auc": [low, high], ...}, for every key of `summary_keys(task)`.

    Cases are resampled with replacement. A resample in which the AUC (or AUPRC) of a class that has one in the
    full data becomes undefined (the class, or every other class, was not drawn) is skipped for that metric, so
    every value in the interval averages the same classes. A metric with no usable resample gets [None, None].
    """
    check_options(n_boot, alpha)
    y_true, y_prob = validate(task, y_true, y_prob)
    cases = _prepare(task, y_true, y_prob, threshold, n_bins)
    n, scored = len(y_true), list(curve_columns(task, y_prob.shape[1]))
    full = _summarise(cases, np.ones((1, n)))
    defined = {key: ~np.isnan(full[f"class_{key}"][0, scored]) for key in ("auc", "auprc")}
    keys = summary_keys(task)
    draws: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    for weights in resample_weights(n, n_boot, seed):
        s = _summarise(cases, weights)
        for key, in_full_data in defined.items():
            s[key][np.isnan(s[f"class_{key}"][:, scored][:, in_full_data]).any(axis=1)] = np.nan
        for key in keys:
            draws[key].append(s[key])
    return {key: percentile_interval(np.concatenate(draws[key]), alpha) for key in keys}


def threshold_ci(
    task: str,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float | Sequence[float] = 0.5,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Percentile bootstrap intervals of what the decision threshold decides: acc, balanced_accuracy and macro_f1
    ({key: [low, high]}) and, under "per_class", one {rate: [low, high]} per class for each of RATES. A rate
    undefined in a resample (no positives drawn, or none predicted) is left out of that resample. The resamples
    are those of `bootstrap_ci` with the same seed."""
    check_options(n_boot, alpha)
    y_true, y_prob = validate(task, y_true, y_prob)
    cases = _prepare(task, y_true, y_prob, threshold, n_bins=1)
    chunks = [_counts(cases, weights) for weights in resample_weights(len(y_true), n_boot, seed)]
    draws = {key: np.concatenate([chunk[key] for chunk in chunks]) for key in (*THRESHOLD_KEYS, *RATES)}
    return {**{key: percentile_interval(draws[key], alpha) for key in THRESHOLD_KEYS},
            "per_class": [{rate: percentile_interval(draws[rate][:, k], alpha) for rate in RATES}
                          for k in range(y_prob.shape[1])]}


def roc_band(
    task: str,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    labels: Sequence[str],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[dict]:
    """A pointwise percentile band around each ROC curve of `compute_metrics`: [{name, fpr, tpr_low, tpr_high}],
    sensitivity read off every resample's curve at the false positive rates ROC_BAND_FPR. Empty lists for a
    class whose curve is undefined in every resample."""
    check_options(n_boot, alpha)
    y_true, y_prob = validate(task, y_true, y_prob, n_columns=len(labels))
    cases = _prepare(task, y_true, y_prob, 0.5, n_bins=1)
    columns = list(curve_columns(task, len(labels)))
    draws: dict[int, list[np.ndarray]] = {k: [] for k in columns}
    for weights in resample_weights(len(y_true), n_boot, seed):
        for k in columns:
            draws[k].append(tpr_at(cases.truth[:, k], cases.score[:, k], weights, ROC_BAND_FPR))
    band = []
    for k in columns:
        tpr = np.concatenate(draws[k])
        tpr = tpr[~np.isnan(tpr[:, 0])]
        low, high = np.percentile(tpr, [50 * alpha, 100 - 50 * alpha], axis=0) if len(tpr) else ([], [])
        band.append({"name": str(labels[k]), "fpr": ROC_BAND_FPR.tolist() if len(tpr) else [],
                     "tpr_low": np.asarray(low).tolist(), "tpr_high": np.asarray(high).tolist()})
    return band


def curve_columns(task: str, k: int) -> range:
    """The columns that get a curve and a headline AUC/AUPRC: binary the positive class, otherwise all."""
    return range(1, 2) if task == "binary" else range(k)


def _prepare(task: str, y_true: np.ndarray, y_prob: np.ndarray, threshold: float | Sequence[float],
             n_bins: int) -> _Cases:
    """Predictions and calibration samples as per-case matrices; the MedMNIST decision rules live here."""
    if n_bins < 1:
        raise ConfigError(f"n_bins: expected at least 1 calibration bin, got {n_bins}")
    if task == "multi-label":
        truth, pred, conf, hit = y_true, y_prob > np.asarray(threshold), y_prob, y_true
        brier, grade_error = ((y_prob - y_true) ** 2).mean(axis=1), np.zeros(len(y_true))
    else:
        eye = np.eye(y_prob.shape[1])
        label = (y_prob[:, 1] > threshold).astype(int) if task == "binary" else y_prob.argmax(axis=1)
        truth, pred, grade_error = eye[y_true], eye[label], (label - y_true).astype(float)
        if task == "binary":  # calibration and Brier score of the positive-class probability
            conf, hit, brier = y_prob[:, 1:], y_true[:, None], (y_prob[:, 1] - y_true) ** 2
        else:  # top-label calibration: confidence of the predicted class against being right
            conf, hit = y_prob.max(axis=1, keepdims=True), (label == y_true)[:, None]
            brier = ((y_prob - truth) ** 2).sum(axis=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # [lo, hi), 1.0 in the last; 0.7 in [0.7, 0.8)
    member = bins[..., None] == np.arange(n_bins)  # (N, M, B)
    return _Cases(
        task=task,
        truth=truth.astype(float),
        pred=pred.astype(float),
        score=y_prob,
        brier=brier,
        grade_error=grade_error,
        bin_count=member.sum(axis=1).astype(float),
        bin_conf=(member * conf[..., None]).sum(axis=1),
        bin_hit=(member * hit[..., None]).sum(axis=1),
        bin_edges=edges,
    )


def _counts(cases: _Cases, weights: np.ndarray) -> dict[str, np.ndarray]:
    """What the decisions alone give, for each row of case weights (R, N): tp, fp, fn, tn and RATES (R, K), n,
    acc, balanced_accuracy and macro_f1 (R,); NaN where undefined."""
    t, p = cases.truth, cases.pred
    tp, fp, fn = weights @ (t * p), weights @ ((1 - t) * p), weights @ (t * (1 - p))
    n = weights.sum(axis=1)
    tn = n[:, None] - tp - fp - fn
    rates = {"sensitivity": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp),
             "npv": ratio(tn, tn + fn), "f1": ratio(2 * tp, 2 * tp + fp + fn)}
    if cases.task == "multi-label":  # MedMNIST: mean per-label accuracy; balanced accuracy likewise per label
        acc = ((tp + tn) / n[:, None]).mean(axis=1)
        balanced = nanmean(np.stack([rates["sensitivity"], rates["specificity"]]), axis=0).mean(axis=1)
    else:
        acc = tp.sum(axis=1) / n
        balanced = nanmean(rates["sensitivity"], axis=1)
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "n": n, **rates, "acc": acc, "balanced_accuracy": balanced,
            "macro_f1": nanmean(rates["f1"], axis=1)}


def _summarise(cases: _Cases, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Counts and metrics for each row of case weights (R, N); returns (R,) or (R, K) arrays, NaN where undefined."""
    s = _counts(cases, weights)
    n = s["n"]
    class_auc, class_auprc = weighted_ranking(cases.truth, cases.score, weights)
    count, conf, hit = weights @ cases.bin_count, weights @ cases.bin_conf, weights @ cases.bin_hit
    scored = list(curve_columns(cases.task, cases.truth.shape[1]))
    s.update(class_auc=class_auc, class_auprc=class_auprc, bin_count=count, bin_conf=conf, bin_hit=hit,
             auc=nanmean(class_auc[:, scored], axis=1), auprc=nanmean(class_auprc[:, scored], axis=1),
             ece=np.abs(hit - conf).sum(axis=1) / count.sum(axis=1), brier=weights @ cases.brier / n)
    if cases.task == "ordinal":
        s.update(_ordinal(cases, weights, n))
    return s


def _ordinal(cases: _Cases, weights: np.ndarray, n: np.ndarray) -> dict[str, np.ndarray]:
    """Quadratic-weighted kappa and mean absolute error of the predicted grade, per row of case weights.

    kappa = 1 - observed / expected disagreement, each weighted by the squared grade distance: observed from the
    cases, expected from the product of the true and predicted grade distributions (as cohen_kappa_score).
    """
    grades = np.arange(cases.truth.shape[1])
    distance = (grades[:, None] - grades[None, :]) ** 2
    true_grades, predicted_grades = weights @ cases.truth, weights @ cases.pred
    expected = ((true_grades @ distance) * predicted_grades).sum(axis=1)
    observed = n * (weights @ cases.grade_error**2)
    return {"qwk": 1 - ratio(observed, expected), "mae": weights @ np.abs(cases.grade_error) / n}
