"""Evaluating a trained classifier on a split: metrics with bootstrap CIs, predictions, metrics.json and the report."""

from __future__ import annotations

import csv
import io
import time
import warnings
from pathlib import Path

import numpy as np

from meddl.atomic import write_json_atomic, write_text_atomic
from meddl.data.types import ImageSplits
from meddl.errors import DataError
from meddl.evaluate.results import RunResult


def check_compatible(module, data: ImageSplits) -> None:
    """Refuse to evaluate a model on data of another shape or label set, naming the difference."""
    hp = module.hparams
    if not isinstance(data, ImageSplits) or data.info.task != hp.task:
        raise DataError(f"{data.info.name} holds {data.info.kind} data ({data.info.task}); the checkpoint is an "
                        f"image classifier ({hp.task})")
    dims = hp.get("spatial_dims", 2)
    if data.info.spatial_dims != dims:
        what = {2: "2D images", 3: "3D volumes"}
        raise DataError(f"{data.info.name} holds {what[data.info.spatial_dims]}; the model was trained on {what[dims]}")
    if data.info.n_channels != hp.in_channels:
        raise DataError(f"{data.info.name} has {data.info.n_channels} channel(s); the model expects {hp.in_channels}")
    if list(data.info.labels) != list(hp.labels):
        raise DataError(f"{data.info.name} has labels {list(data.info.labels)}; the model was trained on {list(hp.labels)}")


def predict_split(module, images: np.ndarray) -> np.ndarray:
    """Probabilities for uint8 images (N, H, W, C) or volumes (N, D, H, W, C)."""
    from meddl.data.tensors import channels_first

    return module.predict_proba(channels_first(images))


def shown_images(data: ImageSplits, split: str) -> np.ndarray:
    """The split's images as the report draws them: volumes as their three orthogonal planes side by side."""
    images = data.images[split]
    if data.info.spatial_dims == 2:
        return images
    from meddl.tasks.image.planes import plane_views

    return plane_views(images, data.info.modality)


def predictions_csv(y_true: np.ndarray, y_prob: np.ndarray, labels: list[str], sources: list[str] | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "source", "true", *[f"p_{name}" for name in labels]])
    for index, (truth, probs) in enumerate(zip(y_true, y_prob)):
        source = sources[index] if sources else ""
        truth_text = "|".join(map(str, np.flatnonzero(truth))) if np.ndim(truth) else int(truth)
        writer.writerow([index, source, truth_text, *[f"{p:.6f}" for p in probs]])
    return buffer.getvalue()


def evaluate_module(
    module,
    data: ImageSplits,
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
    """Compute metrics (and val metrics) for `module`, write metrics.json, predictions and report.html.

    The split's entry in metrics.json holds MedMNIST's figures (at 0.5, or the argmax) with their intervals (`ci`),
    the metrics at the decision the model is deployed with (`operating_point`, see `meddl.evaluate.operating_point`)
    and the ROC curves' bootstrap band (`roc_band`); `reproducibility` records versions, commit, checksums and
    precision (see `meddl.evaluate.reproducibility`). `started_at` (a `time.perf_counter()` value) is when the
    whole run began: the wall time recorded in metrics.json covers everything up to and including the report.
    `extra` entries are added to metrics.json.
    """
    started_at = time.perf_counter() if started_at is None else started_at
    from meddl.evaluate.metrics import bootstrap_ci, compute_metrics, roc_band
    from meddl.evaluate.operating_point import deployed_rule, operating_point
    from meddl.evaluate.reproducibility import reproducibility
    from meddl.evaluate.sample_size import small_sample_warning
    from meddl.explain.mistakes import explain_mistakes
    from meddl.tasks.image.report import ReportInput, write_report

    check_compatible(module, data)
    task, labels = module.hparams.task, list(module.hparams.labels)
    y_prob = predict_split(module, data.images[split])
    y_true = data.labels[split]
    metrics = compute_metrics(task, y_true, y_prob, labels)  # MedMNIST's convention: 0.5, or the argmax
    intervals = bootstrap_ci(task, y_true, y_prob, n_boot=n_bootstrap, seed=seed) if n_bootstrap else {}
    threshold, method = deployed_rule(task, getattr(module, "threshold", None),
                                      getattr(module, "threshold_method", None))
    deployed = operating_point(task, y_true, y_prob, labels, threshold, method, n_boot=n_bootstrap, seed=seed)
    band = roc_band(task, y_true, y_prob, labels, n_boot=n_bootstrap, seed=seed) if n_bootstrap else None
    record = reproducibility(module, data, split, checkpoint, config, (extra or {}).get("hardware"))
    cautions = tuple(filter(None, [small_sample_warning(task, y_true, labels, split)]))
    for caution in cautions:
        warnings.warn(caution, stacklevel=2)
    payload = {
        "dataset": data.info.name,
        "model": module.hparams.model,
        "task": task,
        "labels": labels,
        split: {**metrics, "ci": intervals, "operating_point": deployed, "roc_band": band},
        "config": config,
        "checkpoint": str(checkpoint),
        "best_epoch": best_epoch,
        "epochs_run": len(history or []),
        "split_sizes": {name: len(images) for name, images in data.images.items()},
        # the (epsilon, delta) a DP-trained checkpoint was trained under; None: no privacy guarantee
        "privacy": getattr(module, "privacy", None),
        "reproducibility": record,
        "warnings": list(cautions),
        **(extra or {}),
        "history": history or [],
    }
    if split != "val" and "val" in data.images:
        val_metrics = compute_metrics(task, data.labels["val"], predict_split(module, data.images["val"]), labels)
        payload["val"] = {key: val_metrics[key] for key in ("auc", "acc", "macro_f1", "balanced_accuracy", "ece")}
    output_dir.mkdir(parents=True, exist_ok=True)
    decide_at = 0.5 if threshold is None else threshold  # the errors shown are those of the deployed decision
    explanations = explain_mistakes(module, data.images[split], y_true, y_prob, decide_at)
    report = write_report(
        output_dir,
        ReportInput(
            title=f"{data.info.name} · {module.hparams.model}",
            dataset=data.info.name,
            task=task,
            labels=labels,
            model=module.hparams.model,
            metrics=metrics,
            confidence_intervals=intervals,
            history=history or [],
            images=shown_images(data, split),
            y_true=y_true,
            y_prob=y_prob,
            config=config,
            wall_time_s=time.perf_counter() - started_at,
            best_epoch=best_epoch,
            privacy=getattr(module, "privacy", None),
            explanations=explanations,
            operating_point=deployed,
            roc_band=band,
            reproducibility=record,
            cautions=cautions,
        ),
    )
    write_text_atomic(
        output_dir / f"predictions_{split}.csv", predictions_csv(y_true, y_prob, labels, data.sources.get(split))
    )
    payload["wall_time_s"] = round(time.perf_counter() - started_at, 2)
    write_json_atomic(output_dir / "metrics.json", payload)
    return RunResult(payload, intervals, checkpoint, report, output_dir)
