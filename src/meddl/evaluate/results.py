"""What a training or evaluation run produced, the same for every task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunResult:
    """What a training or evaluation run produced, for scripts and for the CLI to print: `metrics` is the content
    of metrics.json, `confidence_intervals` those of the scored split, `report` the HTML page (None: none written)."""

    metrics: dict
    confidence_intervals: dict
    checkpoint: Path
    report: Path | None
    output_dir: Path


def run_record(data, module, split: str, scored: dict, val: dict, config: dict, checkpoint: Path,
               best_epoch: int | None, history: list[dict] | None, extra: dict | None, **task_entries) -> dict:
    """The layout metrics.json shares across tasks: what was scored (dataset, model, kind, task, labels), the split's
    figures with their intervals (`scored`), the validation summary, the run (config, checkpoint, best epoch, epochs,
    split sizes, history), then the task's own entries and what the caller adds (`extra`)."""
    hp = module.hparams
    return {
        "dataset": data.info.name,
        "model": hp.model,
        "kind": hp.kind,
        "task": data.info.task,
        "labels": list(data.info.labels),
        split: scored,
        **({"val": val} if val else {}),
        "config": config,
        "checkpoint": str(checkpoint),
        "best_epoch": best_epoch,
        "epochs_run": len(history or []),
        "split_sizes": {name: data.size(name) for name in data.split_names()},
        **task_entries,
        **(extra or {}),
        "history": history or [],
    }


CARD_METRICS = ("auc", "auprc", "acc", "balanced_accuracy", "macro_f1", "ece", "brier", "n", "threshold")


def card_metrics(payload: dict, split: str) -> dict:
    """What a model card shows of an evaluation's metrics.json: the split's summary figures with their intervals
    and, where computed, the metrics at the operating point the model is deployed with."""
    scored = payload.get(split)
    if not isinstance(scored, dict):
        return {}
    summary = {key: scored[key] for key in CARD_METRICS if key in scored}
    extra = {"operating_point": scored["operating_point"]} if "operating_point" in scored else {}
    return {"split": split, **summary, "ci": scored.get("ci", {}), **extra}
