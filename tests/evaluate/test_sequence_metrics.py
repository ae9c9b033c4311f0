"""ECG/text classification metrics: agreement with scikit-learn, Q left out of the averages, cluster bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from meddl.errors import DataError
from meddl.evaluate.grouped_metrics import _from_confusion, bootstrap_ci, classification_metrics

LABELS = ["N", "S", "V", "F", "Q"]
SCORED = ["N", "S", "V", "F"]


def _one_hot(pred: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[pred] * 0.9 + 0.1 / k * (1 - np.eye(k)[pred])


def _random_case(seed: int = 0, n: int = 600):
    rng = np.random.default_rng(seed)
    truth = rng.choice(5, size=n, p=[0.7, 0.1, 0.1, 0.05, 0.05])
    pred = np.where(rng.random(n) < 0.7, truth, rng.integers(0, 5, n))
    return truth, pred, _one_hot(pred, 5)


def test_point_metrics_agree_with_sklearn_and_leave_q_out_of_the_averages():
    truth, pred, prob = _random_case()
    m = classification_metrics(truth, prob, LABELS, SCORED)
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, labels=[0, 1, 2, 3], average="macro"))
    assert m["macro_f1"] != pytest.approx(f1_score(truth, pred, average="macro"))  # Q would change it
    assert m["weighted_f1"] == pytest.approx(f1_score(truth, pred, labels=[0, 1, 2, 3], average="weighted"))
    assert m["acc"] == pytest.approx((truth == pred).mean())
    for k, name in enumerate(LABELS):
        row = m["per_class"][name]
        assert row["sensitivity"] == pytest.approx(recall_score(truth, pred, labels=[k], average="micro"))
        assert row["ppv"] == pytest.approx(precision_score(truth, pred, labels=[k], average="micro"))
        assert row["support"] == int((truth == k).sum())
    assert np.array(m["confusion_matrix"]).sum() == len(truth)
    assert m["scored_labels"] == SCORED


def test_bootstrap_formulas_match_the_point_estimates():
    truth, _, prob = _random_case(1)
    m = classification_metrics(truth, prob, LABELS, SCORED)
    again = _from_confusion(np.array([m["confusion_matrix"]], float), [0, 1, 2, 3])
    assert again["macro_f1"][0] == pytest.approx(m["macro_f1"])
    assert again["weighted_f1"][0] == pytest.approx(m["weighted_f1"])
    assert again["acc"][0] == pytest.approx(m["acc"])
    for k, name in enumerate(LABELS):
        assert again["per_class"]["f1"][0, k] == pytest.approx(m["per_class"][name]["f1"])


def test_a_class_without_cases_or_predictions_is_undefined_not_zero():
    truth = np.array([0, 0, 1, 1, 2])
    m = classification_metrics(truth, _one_hot(np.array([0, 1, 1, 1, 2]), 4), LABELS[:4], SCORED)
    assert m["per_class"]["F"] == {"sensitivity": None, "ppv": None, "f1": None, "support": 0}
    assert m["macro_f1"] == pytest.approx(np.mean([2 / 3, 0.8, 1.0]))


def test_resampling_whole_records_widens_the_interval_when_records_are_correlated():
    """Each record is either all right or all wrong: beats of one patient are not independent, and the record-level
    interval must be wider than the beat-level one."""
    rng = np.random.default_rng(2)
    records = np.repeat(np.arange(20), 50).astype(str)
    truth = rng.integers(0, 4, len(records))
    good = np.repeat(rng.random(20) < 0.6, 50)
    pred = np.where(good, truth, (truth + 1) % 4)
    prob = _one_hot(pred, 4)
    by_record = bootstrap_ci(truth, prob, records, LABELS[:4], SCORED, n_boot=300, seed=0)
    by_beat = bootstrap_ci(truth, prob, np.arange(len(truth)).astype(str), LABELS[:4], SCORED, n_boot=300, seed=0)
    width = lambda ci: ci["acc"][1] - ci["acc"][0]  # noqa: E731
    assert width(by_record) > 2 * width(by_beat)
    point = classification_metrics(truth, prob, LABELS[:4], SCORED)
    for key in ("acc", "macro_f1", "weighted_f1"):
        assert by_record[key][0] <= point[key] <= by_record[key][1]
    assert set(by_record["per_class"]["S"]) == {"sensitivity", "ppv", "f1"}
    assert bootstrap_ci(truth, prob, records, LABELS[:4], SCORED, n_boot=300, seed=0) == by_record


def test_mismatched_inputs_are_clear_errors():
    with pytest.raises(DataError, match="expected shape"):
        classification_metrics(np.array([0, 1]), np.ones((2, 3)) / 3, LABELS, SCORED)
    with pytest.raises(DataError, match="one per sample"):
        bootstrap_ci(np.array([0, 1]), np.eye(5)[:2], ["a"], LABELS, SCORED, n_boot=10)
