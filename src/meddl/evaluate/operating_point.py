"""The operating point: how the model decides once deployed, and how well it does at exactly that decision.

MedMNIST scores every binary and multi-label model at 0.5, but a meddl checkpoint decides at the threshold tuned
on its validation split (`meddl.evaluate.thresholds`) wherever it has one, and `predict`, the export and the HTTP
API all use that one. A clinician reading the report needs sensitivity, specificity, PPV and NPV at that decision,
with their uncertainty, not at a convention the model never uses. Multi-class and ordinal models take the most
probable class (argmax): there the operating point is the argmax decision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from meddl.evaluate.metrics import RATES, THRESHOLD_KEYS, compute_metrics, threshold_ci
from meddl.evaluate.thresholds import THRESHOLD_TASKS


def deployed_rule(task: str, tuned: float | Sequence[float] | None,
                  method: str | None) -> tuple[float | list[float] | None, str]:
    """(threshold, where it came from) of the decision the model makes: the checkpoint's tuned threshold
    ("tuned: youden"), else 0.5 ("default 0.5"); (None, "argmax") where the most probable class is taken."""
    if task not in THRESHOLD_TASKS:
        return None, "argmax"
    if tuned is None:
        return 0.5, "default 0.5"
    return np.asarray(tuned, dtype=float).tolist(), f"tuned: {method or 'youden'}"


def operating_point(
    task: str,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    labels: Sequence[str],
    threshold: float | Sequence[float] | None,
    method: str,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """The metrics at the deployed decision (see `deployed_rule`), JSON-plain, for metrics.json, the report and the
    model card: threshold and method; acc, balanced_accuracy, macro_f1 and their intervals under "ci"; per_class
    rows (name, support, sensitivity, specificity, ppv, npv, f1, each rate's interval under "ci"); the confusion
    matrix at that decision. Intervals are percentile bootstrap intervals over the resamples `bootstrap_ci` draws
    with the same seed; without resamples (`n_boot` 0) they are [None, None].
    """
    at = compute_metrics(task, y_true, y_prob, labels, threshold=0.5 if threshold is None else threshold)
    none = [None, None]
    ci = threshold_ci(task, y_true, y_prob, at["threshold"], n_boot=n_boot, alpha=alpha, seed=seed) if n_boot else {
        **{key: none for key in THRESHOLD_KEYS}, "per_class": [{rate: none for rate in RATES} for _ in labels]}
    per_class = [{"name": row["name"], "support": row["support"], **{rate: row[rate] for rate in RATES},
                  "ci": bounds} for row, bounds in zip(at["per_class"], ci["per_class"])]
    return {
        "threshold": threshold,
        "method": method,
        **{key: at[key] for key in THRESHOLD_KEYS},
        "per_class": per_class,
        "confusion_matrix": at["confusion_matrix"],
        "ci": {key: ci[key] for key in THRESHOLD_KEYS},
    }
