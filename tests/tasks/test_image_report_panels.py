"""The image-classification report's operating point, AUPRC/Brier (QWK/MAE for ordinal grades), vector figures and
reproducibility block: one real short training on BreastMNIST, checked against scikit-learn, plus a synthetic
ordinal report with hostile label names."""

from __future__ import annotations

import base64
import html
import json
import re
from xml.etree import ElementTree

import numpy as np
import pytest
import torch
from helpers import SHARED_MEDMNIST
from sklearn import metrics as skm

from meddl.evaluate.metrics import bootstrap_ci, compute_metrics, roc_band
from meddl.evaluate.operating_point import operating_point
from meddl.evaluate.reproducibility import precision, weights_sha256
from meddl.tasks.image import load_classifier
from meddl.tasks.image.evaluation import predict_split
from meddl.tasks.image.report import FIGURES, ReportInput, write_report

SVG = "{http://www.w3.org/2000/svg}svg"


@pytest.fixture(scope="module")
def breast_run(tmp_path_factory):
    """One epoch on real BreastMNIST (binary: the trainer tunes a threshold on validation)."""
    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip("shared MedMNIST data not found")
    from meddl.api import train

    run = tmp_path_factory.mktemp("panels") / "run"
    train("breastmnist", run, data_dir=SHARED_MEDMNIST, epochs=1, bootstrap=50, progress=False)
    return run, SHARED_MEDMNIST


def _svgs_in(page: str) -> list[bytes]:
    return [base64.b64decode(uri) for uri in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)]


def test_operating_point_is_the_deployed_threshold_and_matches_sklearn(breast_run):
    run, data_dir = breast_run
    from meddl.data import load_dataset

    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    module = load_classifier(run / "checkpoints" / "best.ckpt")
    data = load_dataset("breastmnist", data_dir=data_dir)
    y, p = data.labels["test"].ravel(), predict_split(module, data.images["test"])

    op = test["operating_point"]
    assert "tuned" not in test
    assert op["threshold"] == pytest.approx(module.threshold) and op["method"] == "tuned: youden"
    pred = (p[:, 1] > op["threshold"]).astype(int)
    assert op["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    ppv, sensitivity, _, _ = skm.precision_recall_fscore_support(y, pred, average="binary")
    npv, specificity, _, _ = skm.precision_recall_fscore_support(1 - y, 1 - pred, average="binary")
    positive = op["per_class"][1]
    assert [positive[key] for key in ("sensitivity", "specificity", "ppv", "npv")] == pytest.approx(
        [sensitivity, specificity, ppv, npv])
    assert all(low <= positive[key] <= high for key, (low, high) in positive["ci"].items())
    assert test["auprc"] == pytest.approx(skm.average_precision_score(y, p[:, 1]))
    assert test["brier"] == pytest.approx(skm.brier_score_loss(y, p[:, 1]))
    assert test["ci"]["auprc"][0] <= test["auprc"] <= test["ci"]["auprc"][1]
    assert test["roc_band"][0]["name"] == metrics["labels"][1] and len(test["roc_band"][0]["tpr_low"]) == 101


def test_reproducibility_block_records_versions_checksums_and_precision(breast_run):
    run, _ = breast_run
    metrics = json.loads((run / "metrics.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    record = metrics["reproducibility"]
    assert {"meddl", "python", "torch", "lightning", "monai", "numpy"} <= set(record["versions"])
    assert record["versions"]["torch"] == torch.__version__
    assert record["data"]["sha256"] == manifest["data"]["fingerprint"]["test"]
    assert record["data"]["same_as_training"] is True
    assert record["checkpoint"]["weights_sha256"] == weights_sha256(load_classifier(run / "checkpoints" / "best.ckpt"))
    assert len(record["checkpoint"]["sha256"]) == 64
    assert record["precision"] == {"training": metrics["hardware"]["precision"],
                                   "training_source": "resolved by the trainer in this run", "evaluation": "float32"}
    assert record["code"] is None or len(record["code"]["commit"]) == 40


def test_report_has_the_new_panels_and_vector_figures(breast_run):
    run, _ = breast_run
    page = (run / "report.html").read_text(encoding="utf-8")
    for heading in ("Operating point", "Precision-recall curves", "Reproducibility"):
        assert f"<h2>{heading}</h2>" in page, heading
    for row in ("AUPRC", "Brier score", "tuned on the validation split by Youden", "weights SHA-256"):
        assert row in page, row
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["reproducibility"]["data"]["sha256"] in page
    figures = _svgs_in(page)
    assert len(figures) == len(FIGURES)
    for svg in figures:
        assert ElementTree.fromstring(svg).tag == SVG
    for name in FIGURES:
        assert ElementTree.parse(run / "figures" / f"{name}.svg").getroot().tag == SVG, name
        assert (run / "figures" / f"{name}.png").is_file()


def test_ordinal_report_shows_kappa_and_mae_and_escapes_labels(tmp_path):
    rng = np.random.default_rng(0)
    labels = ["grade 0", "<b>&x", "grade 2", "grade 3", "grade 4"]
    y = rng.integers(0, 5, 80)
    logits = rng.normal(size=(80, 5)) + 2 * np.eye(5)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    metrics = compute_metrics("ordinal", y, p, labels)
    report = ReportInput(
        title="toy ordinal", dataset="toy", task="ordinal", labels=labels, model="cnn", metrics=metrics,
        confidence_intervals=bootstrap_ci("ordinal", y, p, n_boot=50), history=[],
        images=rng.integers(0, 256, (80, 28, 28, 3), dtype=np.uint8), y_true=y, y_prob=p, config={},
        wall_time_s=1.0, operating_point=operating_point("ordinal", y, p, labels, None, "argmax", n_boot=50),
        roc_band=roc_band("ordinal", y, p, labels, n_boot=50))
    page = write_report(tmp_path, report).read_text(encoding="utf-8")
    assert "Quadratic-weighted kappa" in page and "MAE (grades)" in page
    assert f"{metrics['qwk']:.3f}" in page and f"{metrics['mae']:.3f}" in page
    assert "taking the most probable class (argmax)" in page
    assert "<b>&x" not in page and html.escape("<b>&x") in page
    assert all(ElementTree.fromstring(svg).tag == SVG for svg in _svgs_in(page))


def test_precision_prefers_what_was_resolved_over_what_was_requested():
    module = torch.nn.Linear(2, 1)
    resolved = precision(module, {"precision": "32-true"}, {"precision": "auto"}, {"precision": "bf16-mixed"})
    assert resolved == {"training": "bf16-mixed", "training_source": "resolved by the trainer in this run",
                        "evaluation": "float32"}
    assert precision(module, {"precision": "32-true"}, {"precision": "auto"}, None)["training"] == "32-true"
    requested = precision(module, {}, {"precision": "auto"}, None)
    assert requested["training"] == "auto" and requested["training_source"].startswith("requested")
    assert precision(module, {}, {}, None)["training"] is None
