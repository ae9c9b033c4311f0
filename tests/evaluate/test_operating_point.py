"""AUPRC, Brier score, quadratic-weighted kappa, MAE, PR curves, the ROC band and the operating point, each checked
against scikit-learn on random data and on edge cases (ties, an absent class, perfect separation)."""

import json
import warnings

import numpy as np
import pytest
from metric_cases import make_case, names
from sklearn import metrics as skm

from meddl.evaluate.curves import MAX_CURVE_POINTS, pr_points, tpr_at, weighted_ranking
from meddl.evaluate.metrics import ROC_BAND_FPR, bootstrap_ci, compute_metrics, roc_band, threshold_ci
from meddl.evaluate.operating_point import deployed_rule, operating_point

RATES = ("sensitivity", "specificity", "ppv", "npv", "f1")


def one_vs_rest(task: str, y: np.ndarray, k: int) -> np.ndarray:
    return y if task == "multi-label" else np.eye(k, dtype=int)[y]


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
@pytest.mark.parametrize("task", ["binary", "multi-class", "ordinal", "multi-label"])
def test_auprc_and_brier_match_sklearn(task, ties):
    y, p = make_case(task, n=250, k=4, seed=3, ties=ties)
    k = p.shape[1]
    m = compute_metrics(task, y, p, names(k))
    truth = one_vs_rest(task, y, k)
    ap = [skm.average_precision_score(truth[:, j], p[:, j]) for j in range(k)]
    assert [row["auprc"] for row in m["per_class"]] == pytest.approx(ap)
    if task == "binary":
        assert m["auprc"] == pytest.approx(skm.average_precision_score(y, p[:, 1]))
        assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p[:, 1]))
    elif task == "multi-label":
        assert m["auprc"] == pytest.approx(skm.average_precision_score(y, p, average="macro"))
        assert m["brier"] == pytest.approx(np.mean([skm.brier_score_loss(y[:, j], p[:, j]) for j in range(k)]))
    else:
        assert m["auprc"] == pytest.approx(skm.average_precision_score(y, p, average="macro"))
        assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p, labels=range(k)))  # multi-class: 0 to 2


@pytest.mark.parametrize("seed", range(3))
def test_qwk_and_mae_match_sklearn_for_ordinal_grades(seed):
    y, p = make_case("ordinal", n=300, k=5, seed=seed, ties=seed == 2)
    m = compute_metrics("ordinal", y, p, names(5))
    grade = p.argmax(axis=1)
    assert m["qwk"] == pytest.approx(skm.cohen_kappa_score(y, grade, weights="quadratic", labels=range(5)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, grade))
    assert "qwk" not in compute_metrics("multi-class", y, p, names(5))


def test_edge_cases_absent_class_perfect_separation_and_all_tied():
    # class 2 never occurs: no AUPRC for it (sklearn warns and says 0), the average skips it
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4], [0.2, 0.7, 0.1], [0.4, 0.4, 0.2], [0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    m = compute_metrics("ordinal", y, p, list("abc"))
    assert m["per_class"][2]["auprc"] is None
    assert m["auprc"] == pytest.approx(np.mean([skm.average_precision_score(y == j, p[:, j]) for j in (0, 1)]))
    assert m["qwk"] == pytest.approx(skm.cohen_kappa_score(y, p.argmax(1), weights="quadratic", labels=range(3)))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p, labels=range(3)))
    json.dumps(m, allow_nan=False)

    # perfect separation: every ranking metric perfect, kappa 1, no grade error
    p1 = np.array([0.1, 0.2, 0.8, 0.9])
    m = compute_metrics("binary", np.array([0, 0, 1, 1]), np.c_[1 - p1, p1], ["neg", "pos"])
    assert (m["auc"], m["auprc"]) == (1.0, 1.0)
    assert m["brier"] == pytest.approx(skm.brier_score_loss([0, 0, 1, 1], p1))
    grades = np.eye(3)[[0, 1, 2, 2]] * 0.9 + 0.1 / 3
    m = compute_metrics("ordinal", np.array([0, 1, 2, 2]), grades, list("abc"))
    assert (m["qwk"], m["mae"]) == (pytest.approx(1.0), 0.0)

    # every score tied: one threshold, so AP is the prevalence
    m = compute_metrics("binary", np.array([0, 1, 1, 0, 0]), np.full((5, 2), 0.5), ["neg", "pos"])
    assert m["auprc"] == pytest.approx(skm.average_precision_score([0, 1, 1, 0, 0], np.full(5, 0.5))) == 0.4
    assert m["pr"][0] == {"name": "pos", "recall": [1.0, 0.0], "precision": [0.4, 1.0]}

    # one grade only, predicted and true: kappa undefined (None), as sklearn says NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(skm.cohen_kappa_score([1, 1], [1, 1], weights="quadratic", labels=range(3)))
    assert compute_metrics("ordinal", np.array([1, 1]), np.tile([0.1, 0.8, 0.1], (2, 1)), list("abc"))["qwk"] is None


@pytest.mark.parametrize("ties", [False, True])
def test_pr_curve_points_are_sklearns(ties):
    y, p = make_case("multi-class", n=120, k=3, seed=4, ties=ties)
    m = compute_metrics("multi-class", y, p, names(3))
    for j, curve in enumerate(m["pr"]):
        precision, recall, _ = skm.precision_recall_curve(y == j, p[:, j])
        assert curve["name"] == f"class {j}"
        np.testing.assert_allclose(curve["recall"], recall)
        np.testing.assert_allclose(curve["precision"], precision)


def test_long_pr_curves_are_thinned_to_points_of_sklearns():
    rng = np.random.default_rng(0)
    truth, score = (rng.random(5000) < 0.2).astype(int), rng.random(5000)
    recall, precision = map(np.array, pr_points(truth, score))
    sk_precision, sk_recall, _ = skm.precision_recall_curve(truth, score)
    assert len(recall) == MAX_CURVE_POINTS < len(sk_recall)
    assert set(zip(recall.round(12), precision.round(12))) <= set(zip(sk_recall.round(12), sk_precision.round(12)))
    assert (recall[0], precision[-1], recall[-1]) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize("seed", range(3))
def test_weighted_average_precision_and_roc_band_match_sklearn_with_case_weights(seed):
    """A bootstrap resample is the data with integer case weights: AP and the ROC band must match that."""
    rng = np.random.default_rng(seed)
    n = 150
    truth = (rng.random((n, 2)) < [0.1, 0.5]).astype(float)
    score = np.c_[rng.random(n), rng.integers(0, 6, n) / 5]
    weights = rng.integers(0, 3, (4, n)).astype(float)
    auc, ap = weighted_ranking(truth, score, weights)
    grid = np.linspace(0.005, 0.995, 40)  # off the curves' own corners, where np.interp is unambiguous
    for r in range(4):
        for k in range(2):
            sample = {"sample_weight": weights[r]}
            assert ap[r, k] == pytest.approx(skm.average_precision_score(truth[:, k], score[:, k], **sample))
            assert auc[r, k] == pytest.approx(skm.roc_auc_score(truth[:, k], score[:, k], **sample))
            fpr, tpr, _ = skm.roc_curve(truth[:, k], score[:, k], drop_intermediate=False, **sample)
            off_corners = ~np.isin(grid.round(9), fpr.round(9))
            got = tpr_at(truth[:, k], score[:, k], weights[r:r + 1], grid)[0]
            np.testing.assert_allclose(got[off_corners], np.interp(grid, fpr, tpr)[off_corners])


def test_tpr_on_the_grid_takes_the_top_of_a_vertical_step():
    # ROC points (0, 0), (0, 0.5), (0.5, 1), (1, 1), worked by hand; the tie at 0.8 is one threshold
    truth, score = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.8, 0.1])
    got = tpr_at(truth, score, np.ones((1, 4)), np.array([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert got[0].tolist() == [0.5, 0.75, 1.0, 1.0, 1.0]


def test_roc_band_surrounds_the_curve_and_narrows_with_more_cases():
    y, p = make_case("binary", n=3000, k=2, seed=1)
    wide = roc_band("binary", y[:200], p[:200], ["neg", "pos"], n_boot=200)[0]
    narrow = roc_band("binary", y, p, ["neg", "pos"], n_boot=200)[0]
    assert narrow["name"] == "pos" and narrow["fpr"] == ROC_BAND_FPR.tolist()
    low, high = np.array(narrow["tpr_low"]), np.array(narrow["tpr_high"])
    fpr, tpr, _ = skm.roc_curve(y, p[:, 1])
    curve = np.interp(ROC_BAND_FPR, fpr, tpr)
    assert (low <= high).all() and ((low <= curve + 1e-9) & (curve <= high + 1e-9)).mean() > 0.95
    assert np.mean(high - low) < np.mean(np.subtract(wide["tpr_high"], wide["tpr_low"]))
    empty = roc_band("binary", np.zeros(5, int), np.full((5, 2), 0.5), ["neg", "pos"], n_boot=20)[0]
    assert empty["fpr"] == empty["tpr_low"] == []


@pytest.mark.parametrize("task, threshold", [("binary", 0.37), ("multi-label", [0.3, 0.6, 0.45]),
                                             ("multi-class", None)])
def test_operating_point_rates_match_sklearn_at_the_threshold(task, threshold):
    y, p = make_case(task, n=400, k=3, seed=2)
    k = p.shape[1]
    op = operating_point(task, y, p, names(k), threshold, "tuned: youden", n_boot=200, seed=1)
    if task == "multi-label":
        pred = (p > np.asarray(threshold)).astype(int)
        assert op["confusion_matrix"] == skm.multilabel_confusion_matrix(y, pred).tolist()
        columns = [(y[:, j], pred[:, j]) for j in range(k)]
    else:
        label = (p[:, 1] > threshold).astype(int) if task == "binary" else p.argmax(axis=1)
        assert op["confusion_matrix"] == skm.confusion_matrix(y, label, labels=range(k)).tolist()
        assert op["acc"] == pytest.approx(skm.accuracy_score(y, label))
        columns = [((y == j).astype(int), (label == j).astype(int)) for j in range(k)]
    for row, (t, q) in zip(op["per_class"], columns, strict=True):
        tn, fp, fn, tp = skm.confusion_matrix(t, q, labels=[0, 1]).ravel()
        ppv, sensitivity, f1, support = skm.precision_recall_fscore_support(t, q, average="binary", zero_division=0)
        expected = {"sensitivity": sensitivity, "specificity": tn / (tn + fp), "ppv": ppv, "npv": tn / (tn + fn),
                    "f1": f1}
        assert row["support"] == t.sum() and {rate: row[rate] for rate in RATES} == pytest.approx(expected)
        for rate in RATES:
            low, high = row["ci"][rate]
            assert low <= row[rate] <= high, rate
    assert op["threshold"] == threshold and op["method"] == "tuned: youden"
    low, high = op["ci"]["acc"]
    assert low <= op["acc"] <= high
    json.dumps(op, allow_nan=False)


def test_threshold_intervals_narrow_with_more_cases_and_follow_the_seed():
    y, p = make_case("binary", n=4000, k=2, seed=6)
    wide = threshold_ci("binary", y[:250], p[:250], 0.4, n_boot=300, seed=1)
    narrow = threshold_ci("binary", y, p, 0.4, n_boot=300, seed=1)
    for rate in RATES:
        for k in (0, 1):
            assert np.diff(narrow["per_class"][k][rate]) < np.diff(wide["per_class"][k][rate]), rate
    assert np.diff(narrow["acc"]) < np.diff(wide["acc"])
    assert threshold_ci("binary", y[:250], p[:250], 0.4, n_boot=300, seed=1) == wide
    # the same resamples as bootstrap_ci: at the same threshold, the same accuracy interval
    assert wide["acc"] == bootstrap_ci("binary", y[:250], p[:250], n_boot=300, seed=1, threshold=0.4)["acc"]


def test_deployed_rule_names_where_the_decision_comes_from():
    assert deployed_rule("binary", 0.31, "sensitivity>=0.9") == (0.31, "tuned: sensitivity>=0.9")
    assert deployed_rule("binary", None, None) == (0.5, "default 0.5")
    assert deployed_rule("multi-label", [0.2, 0.7], None) == ([0.2, 0.7], "tuned: youden")
    assert deployed_rule("ordinal", None, None) == (None, "argmax")
    y, p = make_case("binary", n=30, k=2, seed=0)
    unbootstrapped = operating_point("binary", y, p, ["neg", "pos"], 0.5, "default 0.5", n_boot=0)
    assert unbootstrapped["ci"]["acc"] == [None, None] and unbootstrapped["per_class"][1]["ci"]["ppv"] == [None, None]
