"""When an evaluation has too few cases for its figures, and their intervals, to mean much.

A percentile bootstrap needs enough cases of every class to vary: with 8 images an AUC of 1.000 comes back with the
"interval" 1.000-1.000, which says nothing about the next 8. The rule here is a floor on the cases of the rarest
class (positives and negatives of each label for multi-label), the quantity that drives the width of AUC,
sensitivity and specificity intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_CASES_PER_CLASS = 30  # below this a class's sensitivity has a 95% interval wider than about +-0.15 even at 0.9


def small_sample_warning(task: str, y_true: np.ndarray, labels: Sequence[str], split: str) -> str | None:
    """A sentence for the user when the rarest class of `split` has fewer than MIN_CASES_PER_CLASS cases, else None."""
    y_true = np.asarray(y_true)
    if task == "multi-label":
        positives = y_true.sum(axis=0)
        counts = {f"{name} (positive)": int(p) for name, p in zip(labels, positives)}
        counts.update({f"{name} (negative)": int(len(y_true) - p) for name, p in zip(labels, positives)})
    else:
        found = np.bincount(y_true.reshape(-1).astype(int), minlength=len(labels))
        counts = {str(name): int(n) for name, n in zip(labels, found)}
    rarest = min(counts, key=counts.get)
    if counts[rarest] >= MIN_CASES_PER_CLASS:
        return None
    return (f"only {len(y_true)} cases in the {split} split, {counts[rarest]} of them {rarest!r}: too few for the "
            f"figures or their bootstrap intervals to mean much (at least {MIN_CASES_PER_CLASS} per class are "
            "needed); treat them as a smoke test, not a result")
