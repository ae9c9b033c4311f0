"""The evaluation report for ECG and text classifiers: one self-contained HTML page plus its figures as PNG files.

Built on the shared report shell (`meddl.evaluate.report`: one stylesheet, figures embedded as data URIs, every text
escaped, written in a hidden folder and moved into place only when complete): headline macro-F1 and accuracy with
their cluster-bootstrap intervals, what was evaluated (the split, and for ECG the rhythm gate and what the loader
left out), per-class Se/+P/F1, the confusion matrix and training curves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from meddl.evaluate import figures
from meddl.evaluate.report import (DASH, cards, config_section, data_uri, duration, figure, fmt, interval, page,
                                   section, table, write_report_files)

MEANINGS = {
    "macro_f1": "F1 (balance of +P and Se) averaged over the scored classes with equal weight.",
    "weighted_f1": "F1 averaged over the scored classes, weighted by their number of cases.",
    "acc": "Share of test samples classified correctly.",
}


@dataclass
class SequenceReport:
    """What the report shows about one ECG/text classifier on one split (metrics as
    `meddl.evaluate.grouped_metrics`)."""

    title: str
    dataset: str
    kind: str
    model: str
    labels: list[str]
    split: str
    metrics: dict
    confidence_intervals: dict
    history: list[dict]
    config: dict
    wall_time_s: float
    best_epoch: int | None = None
    provenance: dict = field(default_factory=dict)  # `evaluation.provenance`: the split, rhythm gate, left out


def write_sequence_report(output_dir: Path, report: SequenceReport) -> Path:
    """Write report.html and figures/*.png into `output_dir`, atomically, and return the HTML path."""

    def render_figures() -> dict[str, bytes]:
        return {"training_curves": figures.training_curves(report.history, report.best_epoch),
                "confusion_matrix": figures.confusion_matrix(report.metrics["confusion_matrix"], report.labels)}

    return write_report_files(output_dir, render_figures, lambda pngs: _html(report, pngs))


def _sections(report: SequenceReport, uris: dict[str, str]) -> list[str]:
    ci = report.confidence_intervals
    scored = report.metrics.get("scored_labels", report.labels)
    rows = [[name, fmt(report.metrics.get(key)), interval(ci.get(key)), MEANINGS[key]]
            for name, key in (("Macro-F1", "macro_f1"), ("Weighted F1", "weighted_f1"), ("Accuracy", "acc"))]
    class_ci = ci.get("per_class", {})
    per_class = []
    for name, row in report.metrics["per_class"].items():
        bounds = class_ci.get(name, {})
        per_class.append([name + ("" if name in scored else " (not scored)"), str(row["support"])]
                         + [f"{fmt(row[key])} ({interval(bounds.get(key))})" for key in ("sensitivity", "ppv", "f1")])
    groups = "records (patients)" if report.kind == "ecg" else "source documents"
    return [
        section(f"{report.split.capitalize()} metrics",
                f"Averages over the scored classes ({', '.join(scored)}). 95% intervals from a bootstrap that "
                f"resamples whole {groups}, because samples from the same one are correlated.",
                '<div class="table-wrap">' + table(["Metric", "Value", "95% CI", "What it means"], rows, "metrics")
                + "</div>"),
        section("Per class", "Se: sensitivity (recall); +P: positive predictive value (precision); 95% CI in "
                "brackets. — marks a value that is undefined (no cases or no predictions of the class).",
                '<div class="table-wrap">' + table(["Class", "Support", "Se", "+P", "F1"], per_class, "per-class")
                + "</div>"),
        section("Confusion matrix", "Rows are true classes, columns predicted ones; each cell shows the count and "
                "its share of the true class.", figure(uris["confusion_matrix"], "confusion matrix")),
    ]


def _evaluated(report: SequenceReport) -> str:
    """What was evaluated: the split (scheme, records or documents, sizes), and for ECG the rhythm gate and what
    the loader left out, as a two-column table opening the page."""
    facts = report.provenance
    rows = [["Split", facts["evaluated_split"]["description"]]] if "evaluated_split" in facts else []
    if "rhythm_gate_applied" in facts:
        rows.append(["Rhythm gate", facts["rhythm_gate_applied"]["description"]])
    if "left_out" in facts:
        rows.append(["Left out", facts["left_out"]["description"]])
    if not rows:
        return ""
    return section("What was evaluated", "The samples these figures come from; compare with a published result "
                   "only where the split is the same.",
                   '<div class="table-wrap">' + table(["", "Details"], rows, "metrics") + "</div>")


def _html(report: SequenceReport, pngs: dict[str, bytes]) -> str:
    date = datetime.now().strftime("%Y-%m-%d %H:%M")
    uris = {name: data_uri(data) for name, data in pngs.items()}
    headline = []
    for name, key in (("Macro-F1", "macro_f1"), ("Accuracy", "acc")):
        bounds = interval(report.confidence_intervals.get(key))
        headline.append((name, fmt(report.metrics.get(key)),
                         "95% CI not available" if bounds == DASH else f"95% CI {bounds}"))
    facts = [("Dataset", report.dataset), ("Model", report.model), ("Kind", report.kind),
             (f"{report.split.capitalize()} samples", str(report.metrics.get("n"))),
             ("Wall time", duration(report.wall_time_s)), ("Date", date)]
    split = report.provenance.get("evaluated_split")
    if split:
        facts.insert(3, ("Split", f"{report.split} ({split['scheme']})"))
    if report.best_epoch is not None:
        facts.append(("Best epoch", str(report.best_epoch)))
    sections = [part for part in [_evaluated(report)] if part] + _sections(report, uris)
    sections.append(section("Training curves", "Loss per epoch and the validation metrics; the dotted line marks "
                            "the epoch kept.", figure(uris["training_curves"], "training curves")))
    sections.append(config_section(report.config))
    return page(report.title, facts, cards(headline), sections, date)
