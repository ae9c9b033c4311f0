"""The classification report: a self-contained, escaped HTML page and its figures, written atomically."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from xml.etree import ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import (average_precision_score, confusion_matrix, f1_score, precision_recall_curve, roc_auc_score,
                             roc_curve)

from meddl.evaluate import figures
from meddl.evaluate.figures import order_errors_first
from meddl.evaluate.report import fmt
from meddl.tasks.image.report import FIGURES, ReportInput, write_report

BLOOD = ["basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte", "monocyte",
         "neutrophil", "<b>&x"]
TASKS = {
    "binary": (["normal", "pneumonia"], 1),
    "multi-class": (BLOOD, 3),
    "multi-label": (["atelectasis", "cardiomegaly", "effusion", "<b>&x", "pleural thickening"], 1),
}


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def fake_metrics(task: str, y_true: np.ndarray, y_prob: np.ndarray, labels: list[str], threshold: float = 0.5) -> dict:
    """Metrics in the schema of meddl.evaluate.metrics, computed with sklearn (no dependency on that module)."""
    k = len(labels)
    if task == "multi-label":
        truth, pred = y_true, (y_prob > threshold).astype(int)
        matrix = [confusion_matrix(truth[:, j], pred[:, j], labels=[0, 1]).tolist() for j in range(k)]
        hits, conf = (pred == truth).ravel(), np.where(pred == 1, y_prob, 1 - y_prob).ravel()
        acc = float((pred == truth).all(axis=1).mean())
    else:
        labels_pred = (y_prob[:, 1] > threshold).astype(int) if task == "binary" else y_prob.argmax(axis=1)
        truth, pred = np.eye(k, dtype=int)[y_true], np.eye(k, dtype=int)[labels_pred]
        matrix = confusion_matrix(y_true, labels_pred, labels=list(range(k))).tolist()
        hits, conf = labels_pred == y_true, y_prob[np.arange(len(y_true)), labels_pred]
        acc = float(hits.mean())
    per_class = []
    for j, name in enumerate(labels):
        t, p = truth[:, j], pred[:, j]
        tp, fp, fn, tn = (int((a * b).sum()) for a, b in ((t, p), (1 - t, p), (t, 1 - p), (1 - t, 1 - p)))
        auc = float(roc_auc_score(t, y_prob[:, j])) if 0 < t.sum() < len(t) else None
        auprc = float(average_precision_score(t, y_prob[:, j])) if t.sum() else None
        per_class.append({"name": name, "support": int(t.sum()), "sensitivity": _rate(tp, tp + fn),
                          "specificity": _rate(tn, tn + fp), "ppv": _rate(tp, tp + fp), "npv": _rate(tn, tn + fn),
                          "f1": _rate(2 * tp, 2 * tp + fp + fn), "auc": auc, "auprc": auprc})
    curves = [1] if task == "binary" else range(k)
    roc, pr = [], []
    for j in curves:
        fpr, tpr, _ = roc_curve(truth[:, j], y_prob[:, j])
        roc.append({"name": labels[j], "fpr": fpr.tolist(), "tpr": tpr.tolist()})
        precision, recall, _ = precision_recall_curve(truth[:, j], y_prob[:, j])
        pr.append({"name": labels[j], "recall": recall.tolist(), "precision": precision.tolist()})
    edges = np.linspace(0, 1, 11)
    bins = np.clip(np.digitize(conf, edges[1:-1]), 0, 9)
    count = [int((bins == b).sum()) for b in range(10)]
    bin_acc = [float(hits[bins == b].mean()) if count[b] else None for b in range(10)]
    bin_conf = [float(conf[bins == b].mean()) if count[b] else None for b in range(10)]
    ece = sum(c * abs(a - f) for c, a, f in zip(count, bin_acc, bin_conf) if c) / len(conf)
    scored = per_class[1:] if task == "binary" else per_class
    return {"auc": float(np.mean([r["auc"] for r in scored])), "acc": acc,
            "ece": ece, "macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
            "balanced_accuracy": float(np.mean([r["sensitivity"] or 0 for r in per_class])), "n": len(y_true),
            "threshold": threshold, "per_class": per_class, "confusion_matrix": matrix, "roc": roc, "pr": pr,
            "calibration": {"bin_edges": edges.tolist(), "bin_confidence": bin_conf, "bin_accuracy": bin_acc,
                            "bin_count": count}}


def make_input(task: str, n: int = 48, seed: int = 0, **overrides) -> ReportInput:
    """A report for random but informative predictions on random images."""
    labels, channels = TASKS[task]
    rng = np.random.default_rng(seed)
    k = len(labels)
    if task == "multi-label":
        y_true = (rng.random((n, k)) < 0.3).astype(int)
        y_prob = 1 / (1 + np.exp(-(rng.normal(size=(n, k)) + 3 * y_true - 1.5)))
    else:
        y_true = rng.integers(0, k, n)
        logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y_true]
        y_prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    metrics = fake_metrics(task, y_true, y_prob, labels)
    fields = dict(
        title=f"toy-{task} · resnet18-28", dataset=f"toy-{task}", task=task, labels=labels, model="resnet18",
        metrics=metrics, confidence_intervals={key: [metrics[key] - 0.05, metrics[key] + 0.04]
                                               for key in ("auc", "acc", "macro_f1", "balanced_accuracy")},
        history=[{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1) + 0.02 * e,
                  "val_auc": 0.7 + 0.02 * e, "val_acc": 0.6 + 0.02 * e, "lr": 1e-3} for e in range(6)],
        images=rng.integers(0, 256, (n, 28, 28, channels), dtype=np.uint8), y_true=y_true, y_prob=y_prob,
        config={"dataset": f"toy-{task}", "model": "resnet18", "epochs": 6, "note": "</pre><script>"},
        wall_time_s=754.2, best_epoch=3)
    return ReportInput(**{**fields, **overrides})


class _Page(HTMLParser):
    """Collects the attributes that could load something from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value or "" for name, value in attrs if name in ("src", "href")]


@pytest.fixture(scope="module", params=list(TASKS))
def written(request, tmp_path_factory) -> tuple[ReportInput, Path]:
    report = make_input(request.param)
    return report, write_report(tmp_path_factory.mktemp(request.param) / "out", report)


def test_report_is_self_contained_and_escaped(written):
    report, path = written
    assert path == path.parent / "report.html" and path.is_file()
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    page.close()
    assert {"html", "table", "details", "img"} <= set(page.tags)
    assert [link for link in page.links if link.startswith("data:image/svg+xml;base64,")] == page.links
    assert len(page.links) == len(FIGURES)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert fmt(report.metrics["auc"]) in text and fmt(report.metrics["acc"]) in text
    for label in report.labels:
        assert html.escape(label) in text
    assert "<b>&x" not in text
    assert ("&lt;b&gt;&amp;x" in text) == ("<b>&x" in report.labels)


def test_figures_are_written_as_pngs_and_svgs(written):
    _, path = written
    for name in FIGURES:
        png = path.parent / "figures" / f"{name}.png"
        assert png.stat().st_size > 5_000, name
        with Image.open(png) as image:
            assert image.format == "PNG" and min(image.size) > 100
        svg = ElementTree.parse(path.parent / "figures" / f"{name}.svg").getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg", name
    assert sorted(p.name for p in path.parent.iterdir()) == ["figures", "report.html"]


def test_order_errors_first_puts_confident_mistakes_first():
    y_true = np.array([0, 1, 2, 0, 1])
    y_prob = np.array([[0.8, 0.1, 0.1],    # right, 0.8
                       [0.6, 0.3, 0.1],    # wrong, 0.6
                       [0.2, 0.1, 0.7],    # right, 0.7
                       [0.05, 0.9, 0.05],  # wrong, 0.9
                       [0.1, 0.9, 0.0]])   # right, 0.9
    assert order_errors_first(y_true, y_prob, "multi-class").tolist() == [3, 1, 4, 0, 2]


def test_order_errors_first_uses_the_binary_threshold_and_all_labels():
    y_prob = np.array([[0.7, 0.3], [0.45, 0.55], [0.1, 0.9]])
    assert order_errors_first(np.array([1, 0, 1]), y_prob, "binary", threshold=0.25).tolist() == [1, 2, 0]
    y_true = np.array([[1, 0], [1, 1], [0, 0]])
    y_prob = np.array([[0.9, 0.2], [0.8, 0.4], [0.1, 0.95]])
    assert order_errors_first(y_true, y_prob, "multi-label").tolist() == [2, 1, 0]


@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, existing):
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "report.html").write_text("old")

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(figures, "reliability_diagram", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(out, make_input("binary", n=12))
    if existing:
        assert [p.name for p in out.iterdir()] == ["report.html"]
        assert (out / "report.html").read_text() == "old"
    else:
        assert not out.exists()


@pytest.mark.parametrize("history", [[], [{"epoch": 0}, {"epoch": 1, "train_loss": 0.5, "val_auc": None}]])
def test_sparse_history_still_renders(tmp_path, history):
    path = write_report(tmp_path, make_input("binary", n=12, history=history, best_epoch=None))
    assert "data:image/svg+xml;base64," in path.read_text(encoding="utf-8")
    assert (tmp_path / "figures" / "training_curves.png").stat().st_size > 1_000


def test_mismatched_labels_are_rejected():
    with pytest.raises(ValueError, match="y_prob must be"):
        make_input("multi-class", labels=["a", "b"])
