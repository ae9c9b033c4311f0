"""The evaluation report for image classification: one self-contained HTML page plus its figures as PNG and SVG
files (built on the shared report shell, `meddl.evaluate.report`).

The page is what a clinician-researcher reads instead of a log: headline AUC, AUPRC and accuracy with confidence
intervals, the operating point (the decision the model is deployed with, and its sensitivity, specificity, PPV and
NPV with intervals), ROC and precision-recall curves, the confusion matrix at that decision, calibration, training
curves, the test images the model got wrong, and what reproduces it all. Every figure is embedded as an SVG data
URI and the CSS is inline, so the HTML opens offline and can be mailed as a single file. Label names come from user
folders, so all text is escaped.

Example::

    path = write_report(Path("runs/pneumonia"), ReportInput(title="pneumoniamnist · resnet18-28", ...))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from html import escape
from importlib.resources import files
from pathlib import Path
from string import Template

import numpy as np

from meddl.data.types import TASK_TYPES
from meddl.evaluate import curve_figures, figures
from meddl.evaluate.report import (DASH, data_uri, duration, fmt, interval, report_stylesheet,
                                  reproducibility_section, table, vector_uri, write_report_files)
from meddl.tasks.image.operating_section import format_threshold, operating_section, threshold_text

FIGURES = ("roc", "pr", "confusion_matrix", "reliability", "training_curves", "test_samples")

# (label, key in metrics and confidence_intervals, what it means for a reader who does not live in ML)
METRIC_ROWS = (
    ("AUC", "auc", "Chance that a random positive case is ranked above a random negative one "
                   "(0.5 = chance, 1 = perfect); averaged over classes one-vs-rest."),
    ("AUPRC", "auprc", "Average precision: PPV averaged over the sensitivities reached as the threshold falls "
                       "(1 = perfect; ranking at random scores the prevalence). Telling where positives are rare; "
                       "averaged over classes one-vs-rest."),
    ("Accuracy", "acc", "Share of test images classified correctly."),
    ("Macro-F1", "macro_f1", "Balance of PPV and sensitivity, averaged over classes with equal weight."),
    ("Balanced accuracy", "balanced_accuracy", "Mean sensitivity over classes; not inflated by a majority class."),
    ("ECE", "ece", "Expected calibration error: average gap between confidence and accuracy (lower is better)."),
    ("Brier score", "brier", "Mean squared error of the predicted probabilities (0 = perfect, lower is better); "
                             "rewards both ranking and calibration. Binary: of the positive class; otherwise "
                             "summed over the classes (0 to 2) or averaged over the labels."),
)
ORDINAL_ROWS = (
    ("Quadratic-weighted kappa", "qwk", "Agreement of predicted and true grade beyond chance, a miss counting the "
                                        "more the further off it is (squared); 1 = perfect, 0 = chance."),
    ("MAE (grades)", "mae", "Mean absolute error of the predicted grade, in grades (0 = perfect)."),
)
PER_CLASS_COLUMNS = ("sensitivity", "specificity", "ppv", "npv", "f1", "auc", "auprc")
COLUMN_NAMES = {"sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV", "f1": "F1",
                "auc": "AUC", "auprc": "AUPRC"}


@dataclass
class ReportInput:
    """Everything the report shows about one trained classifier on its test split.

    `metrics` follows the schema of `meddl.evaluate.metrics.compute_metrics` (auc, auprc, acc, ..., per_class,
    confusion_matrix, calibration, roc, pr), at MedMNIST's 0.5 or argmax. `history` holds one dict per epoch; any
    key but `epoch` may be missing or None. `images` are uint8 (N, H, W, C) with C = 1 or 3; `y_true` is (N,) class
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
    # metrics at the decision the model is deployed with (meddl.evaluate.operating_point); None: no such section,
    # and figures at `metrics["threshold"]`
    operating_point: dict | None = None
    # the ROC curves' bootstrap band (meddl.evaluate.metrics.roc_band); None: curves without a band
    roc_band: list[dict] | None = None
    # versions, commit, checksums, precision (meddl.evaluate.reproducibility); None: no such section
    reproducibility: dict | None = None
    # what the reader must know before the figures (e.g. too few cases to mean much), shown under the headline
    cautions: tuple[str, ...] = ()

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
    """Write report.html and figures/*.png and *.svg into `output_dir`, atomically, and return the HTML path."""
    return write_report_files(output_dir, lambda: _render_figures(report), lambda rendered: _html(report, rendered))


def _decision(report: ReportInput) -> tuple[float | list[float], str]:
    """The decision the figures show (threshold; 0.5 stands for the argmax) and how to name it in a title."""
    op = report.operating_point
    if op is None:
        threshold = report.metrics.get("threshold")
        return (0.5 if threshold is None else threshold), ""
    threshold = 0.5 if op["threshold"] is None else op["threshold"]
    return threshold, threshold_text(op)


def _render_figures(report: ReportInput) -> dict[str, bytes]:
    """All report figures rendered (PNG bytes carrying their SVG), keyed by file stem (see FIGURES)."""
    metrics, op = report.metrics, report.operating_point
    threshold, decided = _decision(report)
    rows = (op or metrics).get("per_class") or []
    roc_points = {row["name"]: (None if row["specificity"] is None else 1 - row["specificity"], row["sensitivity"])
                  for row in rows}
    pr_points = {row["name"]: (row["sensitivity"], row["ppv"]) for row in rows}
    matrices = (op or metrics).get("confusion_matrix") or []
    if report.task == "multi-label":
        confusion = figures.label_confusion_matrices(matrices, report.labels, title=decided or None)
    else:
        title = "Confusion matrix (count, % of true class)" + (f"\n{decided}" if decided else "")
        confusion = figures.confusion_matrix(matrices, report.labels, title=title)
    scores = {key: {row["name"]: row.get(key) for row in metrics.get("per_class") or []} for key in ("auc", "auprc")}
    prevalence = None  # the chance level of a single precision-recall curve
    if report.task == "binary" and metrics.get("per_class") and metrics.get("n"):
        prevalence = metrics["per_class"][1]["support"] / metrics["n"]
    return {
        "roc": curve_figures.roc_curves(metrics.get("roc") or [], scores["auc"], report.roc_band, roc_points),
        "pr": curve_figures.pr_curves(metrics.get("pr") or [], scores["auprc"], pr_points, prevalence),
        "confusion_matrix": confusion,
        "reliability": figures.reliability_diagram(metrics.get("calibration"), metrics.get("ece")),
        "training_curves": figures.training_curves(report.history, report.best_epoch),
        "test_samples": figures.sample_grid(np.asarray(report.images), np.asarray(report.y_true),
                                            np.asarray(report.y_prob), report.labels, report.task, threshold),
    }


def _headline(report: ReportInput) -> str:
    cards = []
    for name, key in (("AUC", "auc"), ("AUPRC", "auprc"), ("Accuracy", "acc")):
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
    """Per class at MedMNIST's convention; with an operating point only what no threshold decides (AUC, AUPRC),
    since the rates at the deployed decision are in its own section."""
    columns = PER_CLASS_COLUMNS if report.operating_point is None else ("auc", "auprc")
    rows = [[str(row.get("name", "")), DASH if row.get("support") is None else str(int(row["support"]))]
            + [fmt(row.get(key)) for key in columns] for row in report.metrics.get("per_class") or []]
    header = ["Label" if report.task == "multi-label" else "Class", "Support", *[COLUMN_NAMES[key] for key in columns]]
    return table(header, rows, "per-class")


def _notes(report: ReportInput) -> tuple[str, str]:
    """How to read the per-class table and the confusion matrix, in the words of this task."""
    threshold, decided = _decision(report)
    rule = "" if report.task not in ("binary", "multi-label") else f"Decision threshold {format_threshold(threshold)}. "
    if report.operating_point is not None:
        per_class = ("How well each class is ranked, whatever the threshold: AUC and AUPRC "
                     + ("of each label." if report.task == "multi-label" else "of each class against all others."))
    elif report.task == "multi-label":
        per_class = rule + "Each label judged on its own: positive where its probability is above the threshold."
    else:
        per_class = rule + "Each class against all others. Sensitivity is recall, PPV is precision."
    if report.task == "multi-label":
        confusion = ("One matrix per label: rows are the truth (neg/pos), columns the prediction; each cell shows "
                     "the count and its share of the true row.")
    else:
        confusion = ("Rows are true classes, columns predicted ones; each cell shows the count and its share of "
                     "the true class, so the diagonal reads as per-class sensitivity.")
    if decided:
        confusion += f" Counted at the operating point, {decided}."
    return per_class + f" {DASH} marks a value that is undefined (for example no positive cases).", confusion


def _html(report: ReportInput, rendered: dict[str, bytes]) -> str:
    """The report page, with each figure embedded as a base64 SVG data URI."""
    date = datetime.now().strftime("%Y-%m-%d %H:%M")
    rows = METRIC_ROWS + (ORDINAL_ROWS if report.task == "ordinal" else ())
    metric_rows = [[name, fmt(report.metrics.get(key)), interval(report.confidence_intervals.get(key)), meaning]
                   for name, key, meaning in rows]
    per_class_note, confusion_note = _notes(report)
    op = report.operating_point
    template = Template(files("meddl.tasks.image").joinpath("report_template.html").read_text(encoding="utf-8"))
    return template.substitute(
        style=report_stylesheet(),
        title=escape(report.title),
        facts=_facts(report, date),
        headline=_headline(report),
        cautions="".join(f'<p class="caution">{escape(text)}</p>' for text in report.cautions),
        n=escape(str(report.metrics.get("n", len(report.y_true)))),
        convention=escape(_convention(report)),
        metrics_table=table(["Metric", "Value", "95% CI", "What it means"], metric_rows, "metrics"),
        operating_point=operating_section(op, report.metrics, report.task) if op else "",
        per_class_note=escape(per_class_note),
        per_class_table=_per_class(report),
        confusion_note=escape(confusion_note),
        roc_note=escape(_roc_note(report)),
        config=escape(json.dumps(report.config, indent=2, default=str)),
        date=escape(date),
        explanations=_explanations(report.explanations),
        reproducibility=reproducibility_section(report.reproducibility),
        **{name: vector_uri(figure) for name, figure in rendered.items()},
    )


def _convention(report: ReportInput) -> str:
    """At which decision the metrics table is counted, and why."""
    rule = "at 0.5 on the probabilities" if report.task in ("binary", "multi-label") else "at the most probable class"
    where = " The decision the model is deployed with is under Operating point." if report.operating_point else ""
    return f"Decisions {rule}, MedMNIST's convention, so these figures compare with its benchmarks.{where}"


def _roc_note(report: ReportInput) -> str:
    """What the ROC figure marks beyond the curves."""
    parts = ["Sensitivity against false positive rate as the decision threshold moves; the dashed diagonal is "
             "chance. Curves closer to the top-left corner separate the class better."]
    if report.roc_band:
        parts.append("The shaded band is each curve's pointwise 95% bootstrap interval.")
    if report.operating_point:
        parts.append("The circle marks the operating point" + (
            " (for an argmax decision, each class's rates against all others, which need not lie on its curve)."
            if report.operating_point["threshold"] is None else "."))
    return " ".join(parts)


def _explanations(explanations: list[tuple[str, bytes]] | None) -> str:
    """The "Why" section: captioned Grad-CAM overlays, embedded like the other figures; empty without them."""
    if explanations is None:
        return ""
    tiles = "".join(f'<figure><img src="{data_uri(png)}" alt="Grad-CAM: {escape(caption)}"><figcaption>'
                    f'{escape(caption)}</figcaption></figure>' for caption, png in explanations)
    body = f'<div class="cams">{tiles}</div>' if tiles else '<p class="note">No wrong predictions to explain.</p>'
    return (
        '<section>\n  <h2>Why: Grad-CAM on the most confident errors</h2>\n'
        '  <p class="note">Where the model looked when it was most sure and wrong: warm colours mark the regions '
        'that raised the score of the class it predicted (Grad-CAM; the image shows through where there is no '
        'evidence). A hot spot on a marker, text, a ruler or the image border instead of anatomy suggests a '
        f'shortcut. Captions give the truth, the prediction and its probability.</p>\n  {body}\n</section>\n'
    )
