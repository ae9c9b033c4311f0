"""The evaluation report for language models: perplexity, training curves and a few generated samples, on one
self-contained HTML page built on the shared report shell (`meddl.evaluate.report`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path

from meddl.evaluate import figures
from meddl.evaluate.report import (cards, config_section, data_uri, duration, figure, fmt, page, section, table,
                                   write_report_files)

HEADLINES = (("Perplexity", "perplexity"), ("Cross-entropy (nats/token)", "cross_entropy"))
MEANINGS = {
    "perplexity": "exp(mean cross-entropy) over every test token: the effective number of equally likely next "
                  "tokens (lower is better).",
    "cross_entropy": "Mean negative log-likelihood of each test token, in nats.",
}


@dataclass
class LanguageModelReport:
    """What the report shows about one language model on one split (perplexity, cross_entropy, tokens, n)."""

    title: str
    dataset: str
    model: str
    split: str
    metrics: dict
    history: list[dict]
    config: dict
    wall_time_s: float
    best_epoch: int | None = None
    samples: list[tuple[str, str]] = field(default_factory=list)
    split_description: str = ""  # how the split was drawn and what it holds (`provenance.split_facts`)


def write_language_model_report(output_dir: Path, report: LanguageModelReport) -> Path:
    """Write report.html and figures/*.png into `output_dir`, atomically, and return the HTML path."""
    return write_report_files(
        output_dir, lambda: {"training_curves": figures.training_curves(report.history, report.best_epoch)},
        lambda pngs: _html(report, pngs))


def _html(report: LanguageModelReport, pngs: dict[str, bytes]) -> str:
    date = datetime.now().strftime("%Y-%m-%d %H:%M")
    rows = [[name, fmt(report.metrics.get(key)), MEANINGS[key]] for name, key in HEADLINES]
    rows.append(["Tokens", str(report.metrics.get("tokens")), "Test tokens predicted (unknown words included)."])
    samples = "".join(f"<p class=\"note\">Prompt: <b>{escape(prompt)}</b></p><pre>{escape(text)}</pre>"
                      for prompt, text in report.samples)
    facts = [("Dataset", report.dataset), ("Model", report.model), ("Kind", "language-model"),
             (f"{report.split.capitalize()} samples", str(report.metrics.get("n"))),
             ("Wall time", duration(report.wall_time_s)), ("Date", date)]
    if report.best_epoch is not None:
        facts.append(("Best epoch", str(report.best_epoch)))
    evaluated = [section("What was evaluated", "The texts these figures come from; compare a perplexity with "
                         "another only on the same split and tokenizer.",
                         '<div class="table-wrap">' + table(["", "Details"], [["Split", report.split_description]],
                                                            "metrics") + "</div>")] if report.split_description else []
    sections = [
        *evaluated,
        section(f"{report.split.capitalize()} metrics", "Over every token of the split, in chunks as in training.",
                '<div class="table-wrap">' + table(["Metric", "Value", "What it means"], rows, "metrics") + "</div>"),
        section("Generated samples", "Continuations of the opening words of test texts (temperature 0.8, top-k 20, "
                "fixed seed); each text starts with its prompt, as the tokenizer normalises it.",
                samples or "<p>none</p>"),
        section("Training curves", "Loss per epoch and the validation metrics; the dotted line marks the epoch kept.",
                figure(data_uri(pngs["training_curves"]), "training curves")),
        config_section(report.config),
    ]
    headline = cards([(name, fmt(report.metrics.get(key)), "") for name, key in HEADLINES])
    return page(report.title, facts, headline, sections, date)
