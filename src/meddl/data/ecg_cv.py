"""Cross-validation by record: every fold holds out whole patients, as the test set (DS2) will be new patients.

Beats of one patient are far more alike than beats of two patients, so a fold that mixes one record's beats between
fitting and scoring measures recall of that patient, not generalisation. Anything chosen at train time for an ECG
model (thresholds, class scaling, hyper-parameters) is chosen on these held-out records of the training split.
"""

from __future__ import annotations

import numpy as np

from meddl.errors import ConfigError


def record_folds(records: np.ndarray, n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held-out) beat indices for `n_folds` folds of whole records (scikit-learn's GroupKFold, which balances
    the beats per fold); every record is held out exactly once. ConfigError for fewer records than folds."""
    from sklearn.model_selection import GroupKFold

    records = np.asarray(records)
    n_records = len(np.unique(records))
    if n_folds < 2 or n_records < n_folds:
        raise ConfigError(f"record-grouped cross-validation with {n_folds} folds needs at least {max(n_folds, 2)} "
                          f"records; the training split has {n_records}")  # fmt: skip
    return [(fit, held) for fit, held in GroupKFold(n_splits=n_folds).split(records, groups=records)]
