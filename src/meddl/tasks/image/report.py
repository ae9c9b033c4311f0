"""The evaluation report for image classification: one self-contained HTML page plus its figures as PNG files
(built on the shared report shell, `meddl.evaluate.report`).

The page is what a clinician-researcher reads instead of a log: headline AUC and accuracy with confidence
intervals, per-class sensitivity and specificity, ROC, confusion matrix, calibration, training curves, and the
test images the model got wrong. Every figure is embedded as a data URI and the CSS is inline, so the HTML opens
offline and can be mailed as a single file. Label names come from user folders, so all text is escaped.

Example::

    path = write_report(Path("runs/pneumonia"), ReportInput(title="pneumoniamnist · resnet18-28", ...))
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from importlib.resources import files
from pathlib import Path
from string import Template

import numpy as np

from meddl.data.types import TASK_TYPES
from meddl.evaluate import figures
from meddl.evaluate.report import (DASH, duration, fmt, interval, report_stylesheet, table,
                                  write_report_files)

FIGURES = ("roc", "confusion_matrix", "reliability", "training_curves", "test_samples")

# (label, key in metrics and confidence_intervals, what it means for a reader who does not live in ML)
METRIC_ROWS = (
    ("AUC", "auc", "Chance that a random positive case is ranked above a random negative one "
                   "(0.5 = chance, 1 = perfect); averaged over classes one-vs-rest."),
    ("Accuracy", "acc", "Share of test images classified correctly."),
    ("Macro-F1", "macro_f1", "Balance of PPV and sensitivity, averaged over classes with equal weight."),
    ("Balanced accuracy", "balanced_accuracy", "Mean sensitivity over classes; not inflated by a majority class."),
    ("ECE", "ece", "Expected calibration error: average gap between confidence and accuracy (lower is better)."),
)
PER_CLASS_COLUMNS = ("sensitivity", "specificity", "ppv", "npv", "f1", "auc")


@dataclass
class ReportInput:
    """Everything the report shows about one trained classifier on its test split.

    `metrics` follows the schema of `meddl.evaluate.metrics` (auc, acc, ece, macro_f1, balanced_accuracy, n,
    threshold, per_class, confusion_matrix, calibration, roc). `history` holds one dict per epoch; any key but
    `epoch` may be missing or None. `images` are uint8 (N, H, W, C) with C = 1 or 3; `y_true` is (N,) class
    indices, or (N, L) 0/1 for multi-label; `y_prob` is (N, C) probabilities ((N, 2) for binary).
    """

    title: str
    dataset: str
    task: str
    labels: list[str]
    model: str
    metrics: dict
    confidence_intervals: dict
    history: list[dict]
    images: np.ndarray
    y_true: np.ndarray
    y_prob: np.ndarray
    config: dict
    wall_time_s: float
    best_epoch: int | None = None
    # a DP-trained model's record (epsilon, delta, ...; see meddl.training.privacy), shown in the header
    privacy: dict | None = None
    # (caption, PNG) Grad-CAM overlays of the most confident errors (see meddl.explain.mistakes); None: no section
    explanations: list[tuple[str, bytes]] | None = None
    # metrics at the decision threshold tuned on validation data (binary, multi-label), beside those at 0.5
    tuned: dict | None = None

    def __post_init__(self) -> None:
        """Fail here, naming the mismatch, rather than deep inside matplotlib."""
        if self.task not in TASK_TYPES:
            raise ValueError(f"task must be one of {TASK_TYPES}, got {self.task!r}")
        n = len(self.images)
        if not (len(self.y_true) == len(self.y_prob) == n):
            raise ValueError(f"images, y_true and y_prob must have the same length, got {n}, {len(self.y_true)} "
                             f"and {len(self.y_prob)}")
        if np.ndim(self.y_prob) != 2 or np.shape(self.y_prob)[1] != len(self.labels):
            raise ValueError(f"y_prob must be (N, {len(self.labels)}) for {len(self.labels)} labels, "
                             f"got shape {np.shape(self.y_prob)}")
        if np.ndim(self.images) != 4 or np.shape(self.images)[-1] not in (1, 3):
            raise ValueError(f"images must be (N, H, W, C) with C = 1 or 3, got shape {np.shape(self.images)}")


def write_report(output_dir: Path, report: ReportInput) -> Path:
    """Write report.html and figures/*.png into `output_dir`, atomically, and return the HTML path."""
    return write_report_files(output_dir, lambda: _render_figures(report), lambda pngs: _html(report, pngs))


def _threshold(report: ReportInput) -> float:
    threshold = report.metrics.get("threshold")
    return 0.5 if threshold is None else float(threshold)


def _render_figures(report: ReportInput) -> dict[str, bytes]:
    """All report figures as PNG bytes, keyed by file stem (see FIGURES)."""
    metrics = report.metrics
    aucs = {row["name"]: row.get("auc") for row in metrics.get("per_class") or []}
    matrices = metrics.get("confusion_matrix") or []
    if report.task == "multi-label":
        confusion = figures.label_confusion_matrices(matrices, report.labels)
    else:
        confusion = figures.confusion_matrix(matrices, report.labels)
    return {
        "roc": figures.roc_curves(metrics.get("roc") or [], aucs),
        "confusion_matrix": confusion,
        "reliability": figures.reliability_diagram(metrics.get("calibration"), metrics.get("ece")),
        "training_curves": figures.training_curves(report.history, report.best_epoch),
        "test_samples": figures.sample_grid(np.asarray(report.images), np.asarray(report.y_true),
                                            np.asarray(report.y_prob), report.labels, report.task,
                                            _threshold(report)),
    }


def _headline(report: ReportInput) -> str:
    cards = []
    for name, key in (("AUC", "auc"), ("Accuracy", "acc")):
        bounds = interval(report.confidence_intervals.get(key))
        ci = "95% CI not available" if bounds == DASH else f"95% CI {bounds}"
        cards.append(f'<div class="card"><div class="name">{name}</div>'
                     f'<div class="value">{fmt(report.metrics.get(key))}</div><div class="ci">{escape(ci)}</div></div>')
    return "".join(cards)


def _facts(report: ReportInput, date: str) -> str:
    facts = [("Dataset", report.dataset), ("Model", report.model), ("Task", report.task),
             ("Classes" if report.task != "multi-label" else "Labels", str(len(report.labels))),
             ("Test samples", str(report.metrics.get("n", len(report.y_true)))),
             ("Wall time", duration(report.wall_time_s)), ("Date", date)]
    if report.best_epoch is not None:
        facts.append(("Best epoch", str(report.best_epoch)))
    if report.privacy:
        spent = f"ε = {report.privacy['epsilon']:.2f}, δ = {report.privacy['delta']:.0e} (DP-SGD)"
        facts.append(("Differential privacy", spent))
    return " · ".join(f"<span>{escape(k)} <b>{escape(v)}</b></span>" for k, v in facts)


def _per_class(report: ReportInput) -> str:
    rows = [[str(row.get("name", "")), DASH if row.get("support") is None else str(int(row["support"]))]
            + [fmt(row.get(key)) for key in PER_CLASS_COLUMNS] for row in report.metrics.get("per_class") or []]
    header = ["Label" if report.task == "multi-label" else "Class", "Support", "Sensitivity", "Specificity",
              "PPV", "NPV", "F1", "AUC"]
    return table(header, rows, "per-class")


def _notes(report: ReportInput) -> tuple[str, str]:
    """How to read the per-class table and the confusion matrix, in the words of this task."""
    threshold = f"Decision threshold {fmt(_threshold(report), 2)}. "
    if report.task == "multi-label":
        per_class = threshold + "Each label judged on its own: positive where its probability reaches the threshold."
        confusion = ("One matrix per label: rows are the truth (neg/pos), columns the prediction; each cell shows "
                     "the count and its share of the true row.")
    else:
        per_class = ((threshold if report.task == "binary" else "")
                     + "Each class against all others. Sensitivity is recall, PPV is precision.")
        confusion = ("Rows are true classes, columns predicted ones; each cell shows the count and its share of "
                     "the true class, so the diagonal reads as per-class sensitivity.")
    return per_class + f" {DASH} marks a value that is undefined (for example no positive cases).", confusion


def _html(report: ReportInput, pngs: dict[str, bytes]) -> str:
    """The report page, with each PNG in `pngs` embedded as a base64 data URI."""
    date = datetime.now().strftime("%Y-%m-%d %H:%M")
    metric_rows = [[name, fmt(report.metrics.get(key)), interval(report.confidence_intervals.get(key)), meaning]
                   for name, key, meaning in METRIC_ROWS]
    per_class_note, confusion_note = _notes(report)
    uris = {name: "data:image/png;base64," + base64.b64encode(data).decode("ascii") for name, data in pngs.items()}
    template = Template(files("meddl.tasks.image").joinpath("report_template.html").read_text(encoding="utf-8"))
    return template.substitute(
        style=report_stylesheet(),
        title=escape(report.title),
        facts=_facts(report, date),
        headline=_headline(report),
        n=escape(str(report.metrics.get("n", len(report.y_true)))),
        metrics_table=table(["Metric", "Value", "95% CI", "What it means"], metric_rows, "metrics"),
        per_class_note=escape(per_class_note),
        per_class_table=_per_class(report),
        confusion_note=escape(confusion_note),
        config=escape(json.dumps(report.config, indent=2, default=str)),
        date=escape(date),
        explanations=_explanations(report.explanations),
        thresholds=_thresholds(report),
        **uris,
    )


def _thresholds(report: ReportInput) -> str:
    """Metrics at 0.5 and at the tuned threshold side by side; empty where the decision is an argmax."""
    tuned = report.tuned
    if not tuned:
        return ""
    rows = [[name, fmt(report.metrics.get(key)), fmt(tuned.get(key)), interval(tuned.get("ci", {}).get(key))]
            for name, key in (("Accuracy", "acc"), ("Balanced accuracy", "balanced_accuracy"), ("Macro-F1", "macro_f1"))]
    if report.task == "binary":
        positive = report.labels[1]
        at_half, at_tuned = report.metrics["per_class"][1], tuned["per_class"][1]
        rows += [[f"{name} ({positive})", fmt(at_half.get(key)), fmt(at_tuned.get(key)), DASH]
                 for name, key in (("Sensitivity", "sensitivity"), ("Specificity", "specificity"), ("PPV", "ppv"),
                                   ("NPV", "npv"))]
    value = tuned["threshold"]
    cut = fmt(value, 3) if not isinstance(value, list) else " / ".join(fmt(v, 3) for v in value)
    how = ("Youden's J (sensitivity + specificity − 1) on the validation split" if tuned["method"] == "youden"
           else f"the highest threshold reaching {tuned['method'].split('>=')[1]} sensitivity on the validation split")
    rendered = table(["Metric", "At 0.5", f"At {cut}", "95% CI (tuned)"], rows, "metrics")
    return (f'<section>\n  <h2>Decision threshold</h2>\n  <p class="note">The threshold {escape(cut)} was chosen by '
            f'{escape(how)}, never on test data; it is stored in the checkpoint and used by predict, export and the '
            f'HTTP API. The MedMNIST convention (0.5) is shown beside it.</p>\n'
            f'  <div class="table-wrap">{rendered}</div>\n</section>\n')


def _explanations(explanations: list[tuple[str, bytes]] | None) -> str:
    """The "Why" section: captioned Grad-CAM overlays, embedded like the other figures; empty without them."""
    if explanations is None:
        return ""
    tiles = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
        f'alt="Grad-CAM: {escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'
        for caption, png in explanations
    )
    body = f'<div class="cams">{tiles}</div>' if tiles else '<p class="note">No wrong predictions to explain.</p>'
    return (
        '<section>\n  <h2>Why: Grad-CAM on the most confident errors</h2>\n'
        '  <p class="note">Where the model looked when it was most sure and wrong: warm colours mark the regions '
        'that raised the score of the class it predicted (Grad-CAM; the image shows through where there is no '
        'evidence). A hot spot on a marker, text, a ruler or the image border instead of anatomy suggests a '
        f'shortcut. Captions give the truth, the prediction and its probability.</p>\n  {body}\n</section>\n'
    )
