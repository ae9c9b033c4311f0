"""Metrics checked against scikit-learn and hand computation; bootstrap intervals checked for their properties."""

import json
from functools import partial

import numpy as np
import pytest
from metric_cases import make_case, names
from sklearn import metrics as skm

from meddl.errors import MeddlError
from meddl.evaluate.curves import MAX_CURVE_POINTS, weighted_ranking
from meddl.evaluate.metrics import SUMMARY_KEYS, bootstrap_ci, compute_metrics, summary_keys

TASKS = ["binary", "multi-class", "ordinal", "multi-label"]
PER_CLASS_KEYS = {"name", "support", "sensitivity", "specificity", "ppv", "npv", "f1", "auc", "auprc"}


def predictions(task: str, p: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """MedMNIST's decision rules, written independently of the module."""
    if task == "multi-label":
        return (p > threshold).astype(int)
    return (p[:, -1] > threshold).astype(int) if task == "binary" else p.argmax(axis=1)


def columns(task: str, y: np.ndarray, p: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(truth, predicted, score) per class one-vs-rest, or per label."""
    pred = predictions(task, p)
    if task == "multi-label":
        return [(y[:, i], pred[:, i], p[:, i]) for i in range(y.shape[1])]
    return [((y == i).astype(int), (pred == i).astype(int), p[:, i]) for i in range(p.shape[1])]


def hand_ece(conf: np.ndarray, hit: np.ndarray, n_bins: int) -> float:
    """ECE written as the textbook sum over bins of |accuracy - confidence| weighted by bin size."""
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (conf >= lo) & ((conf < hi) if i < n_bins - 1 else (conf <= hi))
        if inside.any():
            total += inside.sum() / conf.size * abs(hit[inside].mean() - conf[inside].mean())
    return total


def check_roc(curve: dict, truth: np.ndarray, score: np.ndarray) -> None:
    """Identical to sklearn's curve when that is short enough, otherwise a subset of it keeping both ends."""
    sk_fpr, sk_tpr, _ = skm.roc_curve(truth, score)
    fpr, tpr = np.array(curve["fpr"]), np.array(curve["tpr"])
    assert len(fpr) <= MAX_CURVE_POINTS
    if len(sk_fpr) <= MAX_CURVE_POINTS:
        np.testing.assert_allclose(fpr, sk_fpr)
        np.testing.assert_allclose(tpr, sk_tpr)
    sk_points = set(zip(sk_fpr.round(12), sk_tpr.round(12)))
    assert set(zip(fpr.round(12), tpr.round(12))) <= sk_points
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("task", TASKS)
def test_every_metric_matches_sklearn(task, seed, ties):
    y, p = make_case(task, n=300, k=5, seed=seed, ties=ties)
    k = p.shape[1]
    m = compute_metrics(task, y, p, names(k))
    pred = predictions(task, p)
    cols = columns(task, y, p)

    if task == "binary":
        assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p[:, -1]))
        assert m["acc"] == pytest.approx(skm.accuracy_score(y, pred))
    else:
        assert m["auc"] == pytest.approx(np.mean([skm.roc_auc_score(t, s) for t, _, s in cols]))
        per_label = [skm.accuracy_score(t, q) for t, q, _ in cols]
        assert m["acc"] == pytest.approx(np.mean(per_label) if task == "multi-label" else skm.accuracy_score(y, pred))
    if task == "multi-label":
        assert m["confusion_matrix"] == skm.multilabel_confusion_matrix(y, pred).tolist()
        balanced = np.mean([skm.balanced_accuracy_score(t, q) for t, q, _ in cols])
        macro_f1 = skm.f1_score(y, pred, average="macro", zero_division=np.nan)
    else:
        assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=range(k)).tolist()
        balanced = skm.balanced_accuracy_score(y, pred)
        macro_f1 = skm.f1_score(y, pred, labels=range(k), average="macro", zero_division=np.nan)
    assert m["balanced_accuracy"] == pytest.approx(balanced)
    assert m["macro_f1"] == pytest.approx(macro_f1)

    for row, (t, q, s) in zip(m["per_class"], cols):
        rates = partial(skm.precision_recall_fscore_support, average="binary", zero_division=np.nan)
        (ppv, sensitivity, f1, _), (npv, specificity, _, _) = rates(t, q), rates(1 - t, 1 - q)
        expected = {"support": t.sum(), "sensitivity": sensitivity, "specificity": specificity, "ppv": ppv,
                    "npv": npv, "f1": f1, "auc": skm.roc_auc_score(t, s), "auprc": skm.average_precision_score(t, s)}
        assert set(row) == PER_CLASS_KEYS
        assert {key: row[key] for key in expected} == pytest.approx(expected)

    roc_cols = cols[1:] if task == "binary" else cols
    assert [c["name"] for c in m["roc"]] == ([names(k)[1]] if task == "binary" else names(k))
    for curve, (t, _, s) in zip(m["roc"], roc_cols, strict=True):
        check_roc(curve, t, s)

    if task == "binary":
        conf, hit = p[:, 1], y
    elif task == "multi-label":
        conf, hit = p.ravel(), y.ravel()
    else:
        conf, hit = p.max(axis=1), pred == y
    assert m["ece"] == pytest.approx(hand_ece(conf, hit.astype(float), 10))
    assert sum(m["calibration"]["bin_count"]) == conf.size
    assert m["n"] == len(y) and m["threshold"] == 0.5
    json.dumps(m, allow_nan=False)


def test_schema_has_exactly_the_agreed_keys():
    y, p = make_case("multi-class", n=50, k=3, seed=0)
    m = compute_metrics("multi-class", y, p, names(3))
    assert set(m) == {*SUMMARY_KEYS, "n", "threshold", "per_class", "confusion_matrix", "calibration", "roc", "pr"}
    assert set(m["calibration"]) == {"bin_edges", "bin_confidence", "bin_accuracy", "bin_count"}
    assert all(set(curve) == {"name", "fpr", "tpr"} for curve in m["roc"])


def test_binary_known_answers():
    y = np.array([0, 0, 1, 1])
    p1 = np.array([0.1, 0.4, 0.35, 0.8])
    m = compute_metrics("binary", y, np.c_[1 - p1, p1], ["neg", "pos"])
    assert m["auc"] == pytest.approx(0.75)
    assert m["acc"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    neg, pos = m["per_class"]
    assert pos == pytest.approx({"name": "pos", "support": 2, "sensitivity": 0.5, "specificity": 1.0, "ppv": 1.0,
                                 "npv": 2 / 3, "f1": 2 / 3, "auc": 0.75, "auprc": 5 / 6})
    assert neg == pytest.approx({"name": "neg", "support": 2, "sensitivity": 1.0, "specificity": 0.5, "ppv": 2 / 3,
                                 "npv": 1.0, "f1": 0.8, "auc": 0.75, "auprc": 5 / 6})
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["balanced_accuracy"] == pytest.approx(0.75)


def test_multi_class_known_answers():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    m = compute_metrics("multi-class", y, p, ["a", "b", "c"])
    assert [row["auc"] for row in m["per_class"]] == pytest.approx([1.0, 2 / 3, 3.5 / 4])  # one tie: 0.3 vs 0.3
    assert m["auc"] == pytest.approx((1.0 + 2 / 3 + 3.5 / 4) / 3)
    assert m["acc"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_threshold_is_strict_as_in_medmnist():
    m = compute_metrics("binary", np.array([0, 1]), np.full((2, 2), 0.5), ["neg", "pos"])
    assert m["confusion_matrix"] == [[1, 0], [1, 0]]
    m = compute_metrics("multi-label", np.array([[0, 1]]), np.array([[0.5, 0.6]]), ["x", "y"], threshold=0.6)
    assert m["confusion_matrix"] == [[[1, 0], [0, 0]], [[0, 0], [1, 0]]]
    assert m["threshold"] == 0.6


def test_ece_and_reliability_bins_by_hand():
    p1 = np.array([0.05, 0.15, 0.12, 0.95, 0.85])
    m = compute_metrics("binary", np.array([0, 0, 1, 1, 0]), np.c_[1 - p1, p1], ["neg", "pos"])
    # bins: 0.05 (0 of 1 positive), 0.12 and 0.15 (1 of 2), 0.85 (0 of 1), 0.95 (1 of 1)
    assert m["ece"] == pytest.approx((0.05 + 2 * abs(0.5 - 0.135) + 0.85 + 0.05) / 5)
    cal = m["calibration"]
    assert cal["bin_edges"] == pytest.approx(np.linspace(0, 1, 11))
    assert cal["bin_count"] == [1, 2, 0, 0, 0, 0, 0, 0, 1, 1]
    assert cal["bin_confidence"][1] == pytest.approx(0.135) and cal["bin_accuracy"][1] == pytest.approx(0.5)
    assert cal["bin_confidence"][2] is None and cal["bin_accuracy"][2] is None

    top = np.array([[0.9, 0.1, 0.0], [0.3, 0.3, 0.4], [0.2, 0.65, 0.15]])
    m = compute_metrics("multi-class", np.array([0, 1, 1]), top, ["a", "b", "c"], n_bins=5)
    assert m["ece"] == pytest.approx((abs(0.9 - 1) + abs(0.4 - 0) + abs(0.65 - 1)) / 3)  # one case per bin

    m = compute_metrics("multi-label", np.array([[1, 0], [0, 0]]), np.array([[0.9, 0.3], [0.1, 0.2]]), ["x", "y"],
                        n_bins=2)
    assert m["ece"] == pytest.approx((3 * abs(0.2 - 0) + abs(0.9 - 1)) / 4)  # pooled labels: 3 low, 1 high


def test_probabilities_on_bin_edges_go_to_the_bin_they_open():
    p1 = np.arange(11) / 10
    m = compute_metrics("binary", np.zeros(11, int), np.c_[1 - p1, p1], ["neg", "pos"])
    assert m["calibration"]["bin_count"] == [1] * 9 + [2]


def test_undefined_values_are_none_and_means_skip_them():
    y = np.array([0, 0, 1, 1, 0, 1])  # classes 2 and 3 never occur; 2 is predicted once, 3 never
    p = np.array([[0.6, 0.2, 0.1, 0.1], [0.3, 0.1, 0.5, 0.1], [0.2, 0.7, 0.0, 0.1],
                  [0.4, 0.3, 0.2, 0.1], [0.5, 0.3, 0.1, 0.1], [0.1, 0.6, 0.2, 0.1]])
    m = compute_metrics("multi-class", y, p, list("abcd"))
    c, d = m["per_class"][2:]
    assert c["auc"] is None and c["sensitivity"] is None and c["support"] == 0 and c["f1"] == 0.0
    assert d["auc"] is None and d["ppv"] is None and d["f1"] is None
    assert m["auc"] == pytest.approx(np.mean([skm.roc_auc_score(y == i, p[:, i]) for i in (0, 1)]))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p.argmax(1), labels=range(4), average="macro",
                                                       zero_division=np.nan))
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(1)))
    assert [curve["fpr"] for curve in m["roc"][2:]] == [[], []]
    json.dumps(m, allow_nan=False)

    m = compute_metrics("binary", np.ones(3, int), np.full((3, 2), 0.5), ["neg", "pos"])
    assert m["auc"] is None and m["per_class"][1]["auc"] is None


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_auc_matches_sklearn_with_case_weights(seed):
    """A bootstrap resample is the data with integer case weights; the AUC must match that, ties included."""
    rng = np.random.default_rng(seed)
    n = 200
    truth = (rng.random((n, 3)) < [0.05, 0.3, 0.6]).astype(float)
    score = np.c_[rng.random(n), rng.integers(0, 4, n) / 3, rng.integers(0, 12, n) / 11]
    weights = rng.integers(0, 3, (4, n)).astype(float)
    got = weighted_ranking(truth, score, weights)[0]
    for r in range(4):
        for k in range(3):
            expected = skm.roc_auc_score(truth[:, k], score[:, k], sample_weight=weights[r])
            assert got[r, k] == pytest.approx(expected)


def test_long_roc_curves_are_thinned():
    y, p = make_case("binary", n=20_000, k=2, seed=3)
    m = compute_metrics("binary", y, p, ["neg", "pos"])
    assert len(skm.roc_curve(y, p[:, 1])[0]) > MAX_CURVE_POINTS
    check_roc(m["roc"][0], y, p[:, 1])


@pytest.mark.parametrize("task", TASKS)
def test_bootstrap_contains_estimate_is_reproducible_and_narrows(task):
    y, p = make_case(task, n=4000, k=4, seed=5)
    k = p.shape[1]
    point = compute_metrics(task, y, p, names(k))
    wide = bootstrap_ci(task, y[:250], p[:250], n_boot=300, seed=1)
    narrow = bootstrap_ci(task, y, p, n_boot=300, seed=1)
    assert set(narrow) == set(summary_keys(task))
    for key, (low, high) in narrow.items():
        assert low <= point[key] <= high, key
        assert high - low < wide[key][1] - wide[key][0], key
    assert bootstrap_ci(task, y[:250], p[:250], n_boot=300, seed=1) == wide
    assert bootstrap_ci(task, y[:250], p[:250], n_boot=300, seed=2) != wide


@pytest.mark.parametrize("alpha", [0.05, 0.3])
@pytest.mark.parametrize("task", TASKS)
def test_intervals_are_percentiles_of_metrics_on_resampled_cases(task, alpha):
    """Pins the scheme: resample r is cases default_rng(seed).integers(0, n, (n_boot, n))[r], drawn with replacement."""
    y, p = make_case(task, n=60, k=3, seed=7, ties=True)
    picks = np.random.default_rng(11).integers(0, len(y), size=(25, len(y)))
    resampled = [compute_metrics(task, y[i], p[i], names(p.shape[1])) for i in picks]
    for key, interval in bootstrap_ci(task, y, p, n_boot=25, alpha=alpha, seed=11).items():
        values = [m[key] for m in resampled if m[key] is not None]
        assert interval == pytest.approx(np.percentile(values, [50 * alpha, 100 - 50 * alpha])), key


def test_bootstrap_skips_resamples_where_a_class_auc_is_undefined():
    """The rare class (AUC 0) is missing from many resamples; averaging the rest there would report AUC 1."""
    y = np.r_[np.zeros(20, int), np.ones(19, int), 2]
    p = np.r_[np.tile([0.8, 0.1, 0.1], (20, 1)), np.tile([0.1, 0.8, 0.1], (19, 1)), [[0.5, 0.5, 0.0]]]
    assert compute_metrics("multi-class", y, p, list("abc"))["auc"] == pytest.approx(2 / 3)
    assert bootstrap_ci("multi-class", y, p, n_boot=200)["auc"] == pytest.approx([2 / 3, 2 / 3])
    assert bootstrap_ci("binary", np.zeros(5, int), np.full((5, 2), 0.5), n_boot=50)["auc"] == [None, None]


BAD_INPUTS = [
    ("multi-class", np.zeros(4, int), np.full((3, 2), 0.5), 2, r"expected shape \(3,\).*got \(4,\)"),
    ("multi-class", np.zeros(3, int), np.full((3, 2), 0.5), 3, "expected 3 columns.*got 2"),
    ("binary", np.zeros(3, int), np.full((3, 3), 1 / 3), 3, "binary task expects 2 columns"),
    ("multi-label", np.zeros((3, 2), int), np.array([[0.5, 1.2]] * 3), 2, r"\[0, 1\].*1\.2"),
    ("multi-label", np.zeros((3, 2), int), np.array([[0.5, -0.1]] * 3), 2, r"\[0, 1\].*-0\.1"),
    ("multi-label", np.zeros((3, 2), int), np.array([[0.5, np.nan]] * 3), 2, "NaN"),
    ("multi-label", np.zeros((3, 3), int), np.full((3, 2), 0.5), 2, r"expected shape \(3, 2\)"),
    ("multi-label", np.full((3, 2), 2), np.full((3, 2), 0.5), 2, r"0\.\.1, got \[2\]"),
    ("multi-class", np.array([0, 1, 3]), np.full((3, 3), 1 / 3), 3, r"0\.\.2, got \[0, 1, 3\]"),
    ("multi-class", np.zeros(3, int), np.full((3, 3), 0.5), 3, "rows summing to 1"),
    ("multi-class", np.zeros(3, int), np.full(3, 0.5), 3, "2-D array"),
    ("regression", np.zeros(3, int), np.full((3, 2), 0.5), 2, "task: expected one of binary.*'regression'"),
]


@pytest.mark.parametrize("task, y, p, n_labels, message", BAD_INPUTS)
def test_bad_input_raises_a_meddl_error_naming_expected_and_found(task, y, p, n_labels, message):
    with pytest.raises(MeddlError, match=message):
        compute_metrics(task, y, p, names(n_labels))
    if p.ndim != 2 or p.shape[1] == n_labels:  # bootstrap_ci takes no label names to disagree with
        with pytest.raises(MeddlError, match=message):
            bootstrap_ci(task, y, p, n_boot=2)


def test_bad_bootstrap_options_raise():
    y, p = make_case("binary", n=20, k=2, seed=0)
    for options in ({"n_boot": 0}, {"alpha": 1.5}):
        with pytest.raises(MeddlError, match="n_boot"):
            bootstrap_ci("binary", y, p, **options)


def test_medmnist_label_layout_is_accepted():
    y, p = make_case("multi-class", n=40, k=3, seed=0)
    assert compute_metrics("multi-class", y[:, None], p, names(3)) == compute_metrics("multi-class", y, p, names(3))
