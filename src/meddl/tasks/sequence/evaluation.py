"""Evaluating a trained ECG/text classifier on a split: metrics with cluster-bootstrap CIs (see
`meddl.evaluate.grouped_metrics`), predictions, metrics.json and report.html, all written atomically.

metrics.json has the layout of the image runs (dataset, model, kind, task, labels, <split>{..., ci}, val{...}, config,
checkpoint, best_epoch, epochs_run, split_sizes, history, wall_time_s, plus what the caller adds: fit_seconds,
hardware), and says what was evaluated: `evaluated_split` (scheme, records or documents, sizes, a one-line
description) and, for ECG, `rhythm_gate` (the fitted gate), `rhythm_gate_applied` and `left_out`.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np

from meddl.atomic import write_json_atomic, write_text_atomic
from meddl.data.types import SignalSplits, TextSplits
from meddl.errors import DataError
from meddl.evaluate.results import RunResult, run_record


def check_compatible(module, data: SignalSplits | TextSplits) -> None:
    """Refuse data the model cannot read (another kind, label set, lead count or beat length), naming the
    difference."""
    hp = module.hparams
    if data.info.kind != hp.kind or data.info.task == "language-model":
        raise DataError(f"{data.info.name} holds {data.info.kind} data ({data.info.task}); the checkpoint is a "
                        f"{hp.kind} classifier")
    if list(data.info.labels) != list(hp.labels):
        raise DataError(f"{data.info.name} has labels {list(data.info.labels)}; the model was trained on "
                        f"{list(hp.labels)} (for mitdb, -O include_q must match the training run)")
    if hp.kind == "ecg":
        shape = next(iter(data.signals.values())).shape[1:]
        expected = (hp.in_channels, hp.model_kwargs["length"])
        if tuple(shape) != expected:
            raise DataError(f"{data.info.name}: beats of {shape[0]} lead(s) x {shape[1]} samples; the model expects "
                            f"{expected[0]} x {expected[1]} (the window options must match the training run)")
        n_features = len(data.feature_names) if data.features else 0
        if n_features != hp.model_kwargs.get("n_features", 0):
            raise DataError(f"{data.info.name}: {n_features} per-beat feature(s); the model expects "
                            f"{hp.model_kwargs.get('n_features', 0)} (-O rr_features must match the training run)")
    elif bool(data.questions) != bool(hp.model_kwargs.get("pair")):
        raise DataError(f"{data.info.name}: question/passage pairs do not match the model "
                        f"(trained {'with' if hp.model_kwargs.get('pair') else 'without'} questions)")


def split_loader(module, data: SignalSplits | TextSplits, split: str):
    """An ordered loader over `split`, encoded as the module was trained (its own tokenizer and lengths)."""
    from meddl.data import batching as sd
    from meddl.data.text import TextOptions
    from meddl.data.tokenizer import Tokenizer

    hp = module.hparams
    if hp.kind == "ecg":
        return sd.loader(sd.signal_dataset(data, split), sd.EVAL_BATCH, shuffle=False)
    tokenizer = Tokenizer.from_dict(hp.tokenizer)
    max_tokens = TextOptions(**(hp.data_options or {})).max_tokens
    make = sd.document_dataset if getattr(module.net, "reads_documents", False) else sd.text_dataset
    return sd.loader(make(data, split, tokenizer, max_tokens), sd.EVAL_BATCH, shuffle=False)


def _groups(data: SignalSplits | TextSplits, split: str) -> np.ndarray:
    """Who each sample belongs to, for the cluster bootstrap: its record (ECG) or source document (text)."""
    groups = data.groups.get(split)
    if groups is None or len(groups) != len(data.labels[split]):
        return np.arange(len(data.labels[split])).astype(str)
    return np.asarray(groups).astype(str)


def predictions_csv(y_true: np.ndarray, y_prob: np.ndarray, labels: list[str], groups: np.ndarray) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "group", "true", "predicted", *[f"p_{name}" for name in labels]])
    for index, (truth, probs, group) in enumerate(zip(y_true, y_prob, groups)):
        writer.writerow([index, group, labels[int(truth)], labels[int(np.argmax(probs))],
                         *[f"{p:.6f}" for p in probs]])
    return buffer.getvalue()


def _classifier_metrics(module, data, split: str, n_bootstrap: int, seed: int
                        ) -> tuple[dict, dict, str, dict, np.ndarray]:
    """(metrics, intervals, predictions CSV, val summary, predicted class indices) of a classifier on `split`."""
    from meddl.evaluate.grouped_metrics import bootstrap_ci, classification_metrics
    from meddl.tasks.sequence.module import scored_labels

    labels = list(module.hparams.labels)
    scored = scored_labels(module.hparams.kind, labels)
    y_prob = module.predict_proba(split_loader(module, data, split))
    y_true, groups = data.labels[split], _groups(data, split)
    metrics = classification_metrics(y_true, y_prob, labels, scored)
    intervals = bootstrap_ci(y_true, y_prob, groups, labels, scored, n_boot=n_bootstrap, seed=seed) \
        if n_bootstrap else {}
    val = {}
    if split != "val" and len(data.labels.get("val", [])):
        val_metrics = classification_metrics(data.labels["val"], module.predict_proba(split_loader(module, data, "val")),
                                             labels, scored)
        val = {key: val_metrics[key] for key in ("acc", "macro_f1", "weighted_f1")}
    return metrics, intervals, predictions_csv(y_true, y_prob, labels, groups), val, y_prob.argmax(axis=1)


def provenance(module, data: SignalSplits | TextSplits, split: str, predicted: np.ndarray) -> dict:
    """The metrics.json entries that say what was evaluated: the split (`evaluated_split`) and, for ECG, the fitted
    gate (`rhythm_gate`, when there is one), what it did here (`rhythm_gate_applied`) and what the loader drops
    (`left_out`); see `meddl.tasks.sequence.provenance`."""
    from meddl.tasks.sequence.provenance import left_out, rhythm_gate_applied, split_facts

    entries: dict = {"evaluated_split": split_facts(data, split).to_dict()}
    hp = module.hparams
    if hp.kind == "ecg":
        if hp.get("rhythm_gate"):
            entries["rhythm_gate"] = hp.rhythm_gate
        entries["rhythm_gate_applied"] = rhythm_gate_applied(hp, list(hp.labels), predicted)
        entries["left_out"] = left_out(data)
    return entries


def evaluate_sequences(
    module,
    data: SignalSplits | TextSplits,
    output_dir: Path,
    checkpoint: Path,
    config: dict,
    history: list[dict] | None = None,
    started_at: float | None = None,
    best_epoch: int | None = None,
    extra: dict | None = None,
    split: str = "test",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> RunResult:
    """Evaluate a `SequenceClassifier` on `split` of `data` and write metrics.json, predictions_<split>.csv and
    report.html into `output_dir`."""
    from meddl.tasks.sequence.report import SequenceReport, write_sequence_report

    started_at = time.perf_counter() if started_at is None else started_at
    check_compatible(module, data)
    if split not in data.split_names():
        raise DataError(f"{data.info.name}: no split {split!r}; expected one of {sorted(data.split_names())}")
    hp = module.hparams
    metrics, intervals, predictions, val, predicted = _classifier_metrics(module, data, split, n_bootstrap, seed)
    facts = provenance(module, data, split, predicted)
    payload = run_record(data, module, split, {**metrics, "ci": intervals}, val, config, checkpoint, best_epoch,
                         history, extra, **facts)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = write_sequence_report(output_dir, SequenceReport(
        title=f"{data.info.name} · {hp.model}", dataset=data.info.name, kind=hp.kind, model=hp.model,
        labels=list(data.info.labels), split=split, metrics=metrics, confidence_intervals=intervals,
        history=history or [], config=config, wall_time_s=time.perf_counter() - started_at, best_epoch=best_epoch,
        provenance=facts))
    write_text_atomic(output_dir / f"predictions_{split}.csv", predictions)
    payload["wall_time_s"] = round(time.perf_counter() - started_at, 2)
    write_json_atomic(output_dir / "metrics.json", payload)
    return RunResult(payload, intervals, checkpoint, report, output_dir)
