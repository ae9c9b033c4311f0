"""Ranking metrics of one score column at a time: ROC AUC, average precision, ROC and precision-recall curves.

Each function takes 0/1 truth and scores; the weighted ones also take case weights (R, N), one row per bootstrap
resample (see `meddl.evaluate.bootstrap`), and return one value per row. Tied scores are one threshold, as in
scikit-learn, so every number here equals its scikit-learn counterpart (`roc_auc_score`, `average_precision_score`,
`roc_curve`, `precision_recall_curve`) with the same `sample_weight`.
"""

from __future__ import annotations

import numpy as np

from meddl.evaluate.bootstrap import ratio

MAX_CURVE_POINTS = 200  # keeps metrics.json small; a drawn curve needs no more


def weighted_ranking(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and average precision of each column (truth (N, K) vs score (N, K)) for each row of case weights
    (R, N): two (R, K) arrays, from one pass over the thresholds.

    AUC is the trapezoidal area under the ROC curve through every distinct threshold, which equals the
    Mann-Whitney U statistic with a tie counting one half (roc_auc_score). Average precision is the sum over
    thresholds of the recall gained there times the precision there (average_precision_score: no interpolation, so
    not the trapezoidal area under the PR curve). Duplicated cases in a resample are handled by their weights.
    AUC is NaN where a column has no positives or no negatives, average precision where it has no positives.
    """
    auc, ap = np.empty((len(weights), truth.shape[1])), np.empty((len(weights), truth.shape[1]))
    for k in range(truth.shape[1]):
        new_pos, new_neg = _per_threshold(truth[:, k], score[:, k], weights)
        tps, fps = np.cumsum(new_pos, axis=1), np.cumsum(new_neg, axis=1)
        # a threshold's new positives outrank the negatives below it and tie with its own new negatives (half each)
        credit = (new_pos * (fps[:, -1:] - fps + new_neg / 2)).sum(axis=1)
        auc[:, k] = ratio(credit, tps[:, -1] * fps[:, -1])
        precision = np.divide(tps, tps + fps, out=np.zeros_like(tps), where=tps > 0)
        ap[:, k] = ratio((new_pos * precision).sum(axis=1), tps[:, -1])
    return auc, ap


def tpr_at(truth: np.ndarray, score: np.ndarray, weights: np.ndarray, fpr_grid: np.ndarray) -> np.ndarray:
    """Sensitivity on the ROC curve at each false positive rate of `fpr_grid`, for each row of case weights
    -> (R, G): the curve as drawn (straight lines between its points, the top of a vertical step), so the
    percentiles over resamples give a confidence band around it. NaN rows where a resample has no positives or no
    negatives."""
    tps, fps = _counts_above(truth, score, weights)
    rows, zero = len(weights), np.zeros((len(weights), 1))
    tpr, fpr = np.c_[zero, ratio(tps, tps[:, -1:])], np.c_[zero, ratio(fps, fps[:, -1:])]
    defined = ~(np.isnan(tpr[:, -1]) | np.isnan(fpr[:, -1]))
    tpr, fpr = np.where(defined[:, None], tpr, 0.0), np.where(defined[:, None], fpr, 0.0)
    # one searchsorted for all rows: row r's rates, all in [0, 1], are shifted to [2r, 2r + 1]
    shift = 2.0 * np.arange(rows)[:, None]
    width = fpr.shape[1]
    at = np.searchsorted((fpr + shift).ravel(), (fpr_grid[None, :] + shift).ravel(), side="right") - 1
    at = at.reshape(rows, len(fpr_grid))
    after = np.minimum(at + 1, (np.arange(rows) * width + width - 1)[:, None])  # the next point, or the last
    f, t = fpr.ravel(), tpr.ravel()
    span = f[after] - f[at]
    step = np.divide(fpr_grid[None, :] - f[at], span, out=np.zeros_like(span), where=span > 0)
    return np.where(defined[:, None], t[at] + step * (t[after] - t[at]), np.nan)


def roc_points(truth: np.ndarray, score: np.ndarray) -> tuple[list[float], list[float]]:
    """(fpr, tpr) at every distinct threshold, as sklearn's roc_curve, thinned to at most MAX_CURVE_POINTS.

    Collinear points are dropped first (lossless), then points are taken evenly by index, keeping both ends.
    Empty lists when the curve is undefined (only one label value present).
    """
    tps, fps = (counts[0] for counts in _counts_above(truth, score, np.ones((1, len(truth)))))
    if tps[-1] == 0 or fps[-1] == 0:
        return [], []
    bends = np.logical_or(np.diff(fps, 2), np.diff(tps, 2))  # interior points where the slope changes
    corners = np.flatnonzero(np.r_[True, bends, True][: len(fps)])  # slice: a single threshold has one point
    fpr, tpr = np.r_[0.0, fps[corners] / fps[-1]], np.r_[0.0, tps[corners] / tps[-1]]
    keep = _evenly(len(fpr))
    return fpr[keep].tolist(), tpr[keep].tolist()


def pr_points(truth: np.ndarray, score: np.ndarray) -> tuple[list[float], list[float]]:
    """(recall, precision) at every distinct threshold, as sklearn's precision_recall_curve: recall falling, ending
    at (0, 1); thinned evenly by index to at most MAX_CURVE_POINTS, keeping both ends. Empty without positives."""
    tps, fps = (counts[0] for counts in _counts_above(truth, score, np.ones((1, len(truth)))))
    if tps[-1] == 0:
        return [], []
    recall, precision = np.r_[tps[::-1] / tps[-1], 0.0], np.r_[(tps / (tps + fps))[::-1], 1.0]
    keep = _evenly(len(recall))
    return recall[keep].tolist(), precision[keep].tolist()


def _counts_above(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted true and false positives (R, G) when calling positive every case scoring at least each distinct
    score, highest score first (the thresholds of roc_curve)."""
    new_pos, new_neg = _per_threshold(truth, score, weights)
    return np.cumsum(new_pos, axis=1), np.cumsum(new_neg, axis=1)


def _per_threshold(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives (R, G) scoring exactly each distinct score, highest score first: tied
    scores are one threshold."""
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    ordered = np.take(weights, order, axis=1)
    new_pos = ordered * (truth[order] == 1)
    new_neg = ordered - new_pos
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    if len(starts) < len(ranked):
        new_pos, new_neg = np.add.reduceat(new_pos, starts, axis=1), np.add.reduceat(new_neg, starts, axis=1)
    return new_pos, new_neg


def _evenly(n: int) -> np.ndarray:
    """At most MAX_CURVE_POINTS indices of 0..n-1, evenly spread, both ends kept."""
    return np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE_POINTS)).round().astype(int))
