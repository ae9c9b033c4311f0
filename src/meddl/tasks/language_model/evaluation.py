"""Evaluating a trained language model on a split: perplexity, cross-entropy (nats per token) and how many tokens
were predicted, a few generated samples, metrics.json and report.html, all written atomically.

metrics.json has the layout of the other runs (dataset, model, kind, task, labels, <split>{..., ci}, val{...},
config, checkpoint, best_epoch, epochs_run, split_sizes, history, wall_time_s, plus what the caller adds).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from meddl.atomic import write_json_atomic
from meddl.data.types import TextSplits
from meddl.errors import DataError
from meddl.evaluate.results import RunResult, run_record

SAMPLE_PROMPTS = 3
SAMPLE_TOKENS = 40


def check_compatible(module, data) -> None:
    """Refuse data a language model cannot be scored on (not text, or a labelled classification set)."""
    if data.info.kind != "text" or data.info.task != "language-model":
        raise DataError(f"{data.info.name} holds {data.info.kind} data ({data.info.task}); the checkpoint is a "
                        "language model")


def split_loader(module, data: TextSplits, split: str):
    """An ordered loader over `split`'s token stream, chunked as the module was trained (its own tokenizer)."""
    from meddl.data import batching as sd
    from meddl.data.text import TextOptions
    from meddl.data.tokenizer import Tokenizer

    hp = module.hparams
    tokenizer = Tokenizer.from_dict(hp.tokenizer)
    seq_len = TextOptions(**(hp.data_options or {})).max_tokens
    return sd.loader(sd.chunk_dataset(data, split, tokenizer, seq_len), 64, shuffle=False)


def generated_samples(module, texts: list[str], seed: int) -> list[tuple[str, str]]:
    """(prompt, prompt + sampled continuation) for the opening words of a few texts: what the model has learned, in
    its own words."""
    from meddl.data.tokenizer import Tokenizer
    from meddl.tasks.language_model.generation import sample_text

    tokenizer = Tokenizer.from_dict(module.hparams.tokenizer)
    samples = []
    for index, text in enumerate([t for t in texts if t.strip()][:SAMPLE_PROMPTS]):
        prompt = " ".join(text.split()[:3])
        samples.append((prompt, sample_text(module.net, tokenizer, prompt, max_tokens=SAMPLE_TOKENS,
                                            temperature=0.8, top_k=20, seed=seed + index)))
    return samples


def evaluate_language_model(
    module,
    data: TextSplits,
    output_dir: Path,
    checkpoint: Path,
    config: dict,
    history: list[dict] | None = None,
    started_at: float | None = None,
    best_epoch: int | None = None,
    extra: dict | None = None,
    split: str = "test",
    seed: int = 0,
) -> RunResult:
    """Evaluate a `LanguageModel` on `split` of `data` and write metrics.json and report.html into `output_dir`."""
    from meddl.tasks.language_model.report import LanguageModelReport, write_language_model_report
    from meddl.tasks.sequence.provenance import split_facts

    started_at = time.perf_counter() if started_at is None else started_at
    check_compatible(module, data)
    if split not in data.split_names():
        raise DataError(f"{data.info.name}: no split {split!r}; expected one of {sorted(data.split_names())}")
    hp = module.hparams
    cross_entropy, tokens = module.cross_entropy(split_loader(module, data, split))
    metrics = {"perplexity": math.exp(cross_entropy), "cross_entropy": cross_entropy, "tokens": tokens,
               "n": len(data.texts[split])}
    val = {}
    if split != "val" and data.texts.get("val"):
        val_ce, _ = module.cross_entropy(split_loader(module, data, "val"))
        val = {"perplexity": math.exp(val_ce), "cross_entropy": val_ce}
    samples = generated_samples(module, data.texts[split], seed)
    generated = {"samples": [{"prompt": p, "text": t} for p, t in samples]} if samples else {}
    evaluated = split_facts(data, split).to_dict()  # which texts: a perplexity compares only on the same split
    payload = run_record(data, module, split, {**metrics, "ci": {}}, val, config, checkpoint, best_epoch, history,
                         extra, evaluated_split=evaluated, **generated)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = write_language_model_report(output_dir, LanguageModelReport(
        title=f"{data.info.name} · {hp.model}", dataset=data.info.name, model=hp.model, split=split,
        metrics=metrics, history=history or [], config=config, wall_time_s=time.perf_counter() - started_at,
        best_epoch=best_epoch, samples=samples, split_description=evaluated["description"]))
    payload["wall_time_s"] = round(time.perf_counter() - started_at, 2)
    write_json_atomic(output_dir / "metrics.json", payload)
    return RunResult(payload, {}, checkpoint, report, output_dir)
