"""The evaluation report for ECG and text models: one self-contained HTML page plus its figures as PNG files.

Same look and guarantees as the image report (`meddl.evaluate.report`: its stylesheet, figures embedded as data
URIs, every text escaped, written in a hidden folder and moved into place only when complete). Classifiers show
headline macro-F1 and accuracy with their cluster-bootstrap intervals, per-class Se/+P/F1, the confusion matrix and
training curves; language models show perplexity, training curves and a few generated samples.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path

from meddl.evaluate import figures
from meddl.evaluate.report import _duration, _interval, _table, fmt, report_stylesheet, write_report_files

HEADLINES = {"classifier": (("Macro-F1", "macro_f1"), ("Accuracy", "acc")),
             "language-model": (("Perplexity", "perplexity"), ("Cross-entropy (nats/token)", "cross_entropy"))}
MEANINGS = {
    "macro_f1": "F1 (balance of +P and Se) averaged over the scored classes with equal weight.",
    "weighted_f1": "F1 averaged over the scored classes, weighted by their number of cases.",
    "acc": "Share of test samples classified correctly.",
    "perplexity": "exp(mean cross-entropy) over every test token: the effective number of equally likely next "
                  "tokens (lower is better).",
    "cross_entropy": "Mean negative log-likelihood of each test token, in nats.",
}


@dataclass
class SequenceReport:
    """What the report shows about one ECG/text model on one split (metrics as `meddl.evaluate.sequence_metrics`
    or the language-model keys perplexity, cross_entropy, tokens)."""

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
    samples: list[tuple[str, str]] = field(default_factory=list)


def write_sequence_report(output_dir: Path, report: SequenceReport) -> Path:
    """Write report.html and figures/*.png into `output_dir`, atomically, and return the HTML path."""

    def render_figures() -> dict[str, bytes]:
        pngs = {"training_curves": figures.training_curves(report.history, report.best_epoch)}
        if report.kind != "language-model":
            pngs["confusion_matrix"] = figures.confusion_matrix(report.metrics["confusion_matrix"], report.labels)
        return pngs

    return write_report_files(output_dir, render_figures, lambda pngs: _html(report, pngs))


def _section(title: str, note: str, body: str) -> str:
    return f'<section><h2>{escape(title)}</h2><p class="note">{escape(note)}</p>{body}</section>'


def _figure(uri: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{escape(alt)}"></figure>'


def _classifier_sections(report: SequenceReport, uris: dict[str, str]) -> list[str]:
    ci = report.confidence_intervals
    scored = report.metrics.get("scored_labels", report.labels)
    rows = [[name, fmt(report.metrics.get(key)), _interval(ci.get(key)), MEANINGS[key]]
            for name, key in (("Macro-F1", "macro_f1"), ("Weighted F1", "weighted_f1"), ("Accuracy", "acc"))]
    class_ci = ci.get("per_class", {})
    per_class = []
    for name, row in report.metrics["per_class"].items():
        bounds = class_ci.get(name, {})
        per_class.append([name + ("" if name in scored else " (not scored)"), str(row["support"])]
                         + [f"{fmt(row[key])} ({_interval(bounds.get(key))})" for key in ("sensitivity", "ppv", "f1")])
    groups = "records (patients)" if report.kind == "ecg" else "source documents"
    return [
        _section(f"{report.split.capitalize()} metrics",
                 f"Averages over the scored classes ({', '.join(scored)}). 95% intervals from a bootstrap that "
                 f"resamples whole {groups}, because samples from the same one are correlated.",
                 '<div class="table-wrap">' + _table(["Metric", "Value", "95% CI", "What it means"], rows, "metrics")
                 + "</div>"),
        _section("Per class", "Se: sensitivity (recall); +P: positive predictive value (precision); 95% CI in "
                 "brackets. — marks a value that is undefined (no cases or no predictions of the class).",
                 '<div class="table-wrap">' + _table(["Class", "Support", "Se", "+P", "F1"], per_class, "per-class")
                 + "</div>"),
        _section("Confusion matrix", "Rows are true classes, columns predicted ones; each cell shows the count and "
                 "its share of the true class.", _figure(uris["confusion_matrix"], "confusion matrix")),
    ]


def _language_model_sections(report: SequenceReport) -> list[str]:
    rows = [[name, fmt(report.metrics.get(key)), MEANINGS[key]] for name, key in HEADLINES["language-model"]]
    rows.append(["Tokens", str(report.metrics.get("tokens")), "Test tokens predicted (unknown words included)."])
    samples = "".join(f"<p class=\"note\">Prompt: <b>{escape(prompt)}</b></p><pre>{escape(text)}</pre>"
                      for prompt, text in report.samples)
    return [
        _section(f"{report.split.capitalize()} metrics", "Over every token of the split, in chunks as in training.",
                 '<div class="table-wrap">' + _table(["Metric", "Value", "What it means"], rows, "metrics") + "</div>"),
        _section("Generated samples", "Continuations of the opening words of test texts (temperature 0.8, top-k 20, "
                 "fixed seed); each text starts with its prompt, as the tokenizer normalises it.", samples or "<p>none</p>"),
    ]


def _html(report: SequenceReport, pngs: dict[str, bytes]) -> str:
    date = datetime.now().strftime("%Y-%m-%d %H:%M")
    uris = {name: "data:image/png;base64," + base64.b64encode(data).decode("ascii") for name, data in pngs.items()}
    language_model = report.kind == "language-model"
    cards = []
    for name, key in HEADLINES["language-model" if language_model else "classifier"]:
        interval = _interval(report.confidence_intervals.get(key))
        ci = "" if language_model else ("95% CI not available" if interval == "—" else f"95% CI {interval}")
        cards.append(f'<div class="card"><div class="name">{escape(name)}</div><div class="value">'
                     f'{fmt(report.metrics.get(key))}</div><div class="ci">{escape(ci)}</div></div>')
    facts = [("Dataset", report.dataset), ("Model", report.model), ("Kind", report.kind),
             (f"{report.split.capitalize()} samples", str(report.metrics.get("n"))),
             ("Wall time", _duration(report.wall_time_s)), ("Date", date)]
    if report.best_epoch is not None:
        facts.append(("Best epoch", str(report.best_epoch)))
    sections = _language_model_sections(report) if language_model else _classifier_sections(report, uris)
    sections.append(_section("Training curves", "Loss per epoch and the validation metrics; the dotted line marks "
                             "the epoch kept.", _figure(uris["training_curves"], "training curves")))
    sections.append("<section><details><summary>Configuration</summary><pre>"
                    + escape(json.dumps(report.config, indent=2, default=str)) + "</pre></details></section>")
    fact_line = " · ".join(f"<span>{escape(k)} <b>{escape(v)}</b></span>" for k, v in facts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(report.title)}'
            f"</title>\n{report_stylesheet()}\n</head>\n<body>\n<main>\n<header><h1>{escape(report.title)}</h1>"
            f'<p class="facts">{fact_line}</p><div class="headline">{"".join(cards)}</div></header>\n'
            + "\n".join(sections) + f"\n<footer>meddl · {escape(date)}</footer>\n</main>\n</body>\n</html>\n")
