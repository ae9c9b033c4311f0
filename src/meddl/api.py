"""The Python API: the same verbs as the CLI (`train`, `evaluate`, `predict`, `export`), same argument names
everywhere."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from meddl.errors import MeddlError

if TYPE_CHECKING:  # evaluation imports torch; `meddl deid` and friends must start without it
    from meddl.evaluate.evaluation import RunResult

RUN_OUTPUTS = ("checkpoints", "logs", "figures", "report.html", "metrics.json", "predictions_test.csv",
               "manifest.json")


def _prepare_output_dir(output_dir: Path, resume: bool, overwrite: bool) -> None:
    """A fresh run never mixes with an earlier one: refuse, unless resuming or told to overwrite."""
    existing = [name for name in RUN_OUTPUTS if (output_dir / name).exists()]
    if not existing or resume:
        return
    if not overwrite:
        raise MeddlError(
            f"{output_dir} already holds a run ({', '.join(existing)}); "
            "use --resume to continue it, --overwrite to replace it, or another --output-dir"
        )
    for name in existing:
        target = output_dir / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()


def train(
    dataset: str,
    output_dir: str | Path,
    model: str | None = None,
    data_dir: str | Path | None = None,
    preset: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: list | None = None,
    seeds: list[int] | None = None,
    **options,
) -> RunResult | None:
    """Train a model on `dataset` (a registered name, or a path to your own images, ECG records or text), evaluate
    it on the test split, and write checkpoints, metrics.json and report.html into `output_dir`. With several
    devices (data-parallel), the worker processes Lightning starts return None after training; rank 0 returns the
    result.

    `preset` and `model` default to what suits the dataset (`meddl datasets`): a small CNN for images, a CNN+LSTM for
    ECG beats, a BiLSTM for text. `data_options` configures ECG and text loaders. Example:
    ``meddl.train("pneumoniamnist", "runs/pneu", epochs=20)`` or
    ``meddl.train("mitdb", "runs/ecg", data_options={"split": "intra-patient"})``.

    `seeds` (e.g. [0, 1, 2]) trains the same configuration once per seed into `output_dir/seed-N/` and writes the
    mean ± sd summary to `output_dir`; the returned result's `metrics` is that summary. Every run writes
    `manifest.json` (versions, config, data checksums, machine, commit, times) beside `metrics.json`.
    """
    from meddl.data import load_dataset
    from meddl.data.types import ImageSplits
    from meddl.training.config import make_config

    from meddl.manifest import utc_now

    if seeds is not None:
        from meddl.multiseed import train_seeds

        if options.get("devices") not in (None, 1) or options.get("num_nodes") not in (None, 1):
            raise MeddlError("--seeds runs one seed after another in one process; for several devices, launch one "
                             "run per seed with --seed N --devices ...")

        train_seeds(train, list(seeds), Path(output_dir), dataset=dataset, model=model, data_dir=data_dir,
                    preset=preset, resume=resume, overwrite=overwrite, progress=progress, callbacks=callbacks,
                    **options)
        return _seeds_result(Path(output_dir))
    start, started = time.perf_counter(), utc_now()
    default_preset, default_model = dataset_defaults(dataset)
    config = make_config(dataset, preset=preset or default_preset, model=model or default_model, **options)
    output = Path(output_dir)
    from meddl.training.distributed import is_worker_process

    if not is_worker_process(config.devices, config.num_nodes):  # under DDP, rank 0 alone owns the output folder
        _prepare_output_dir(output, resume, overwrite)
    data = load_dataset(dataset, size=config.size, data_dir=data_dir, seed=config.seed, options=config.data_options)
    if not isinstance(data, ImageSplits):
        from meddl.training.sequence_runs import train_sequences

        result = train_sequences(config, data, output, resume=resume, callbacks=callbacks, progress=progress,
                                 started_at=start)
        if result is None:  # a data-parallel worker process: rank 0 evaluates and writes
            return None
        from meddl.manifest import data_fingerprint
        from meddl.training.checkpoints import annotate_checkpoint

        for path in {result.checkpoint, result.checkpoint.parent / "last.ckpt"}:
            if path.is_file():
                annotate_checkpoint(path, data_fingerprint=data_fingerprint(data))
        _write_manifest(config, data, dataset, data_dir, started, result)
        return result
    from meddl.evaluate.evaluation import evaluate_module
    from meddl.training.checkpoints import load_classifier
    from meddl.training.trainer import fit

    result = fit(config, data, output, resume=resume, callbacks=callbacks, progress=progress)
    if result.worker:  # a data-parallel worker process: rank 0 evaluates and writes
        return None
    _annotate_image_checkpoints(result, config, data)
    module = load_classifier(result.best_checkpoint)
    run = evaluate_module(
        module,
        data,
        output,
        checkpoint=result.best_checkpoint,
        config=config.to_dict(),
        history=result.history,
        started_at=start,
        best_epoch=result.best_epoch,
        extra={"fit_seconds": round(result.fit_seconds, 2), "hardware": result.hardware},
        n_bootstrap=config.bootstrap,
        seed=config.seed,
    )
    _write_manifest(config, data, dataset, data_dir, started, run)
    return run


def _annotate_image_checkpoints(result, config, data) -> None:
    """Store in best.ckpt and last.ckpt what later commands check against: the data fingerprint (evaluate), the
    training images' statistics (predict's input guards) and the decision threshold tuned on validation data."""
    from meddl.evaluate.evaluation import predict_split
    from meddl.evaluate.thresholds import THRESHOLD_TASKS, method_name, tune_thresholds
    from meddl.guards import input_statistics
    from meddl.manifest import data_fingerprint
    from meddl.training.checkpoints import annotate_checkpoint, load_classifier

    entries = {"data_fingerprint": data_fingerprint(data), "input_stats": input_statistics(data.images["train"])}
    if data.info.task in THRESHOLD_TASKS and len(data.images.get("val", ())):
        module = load_classifier(result.best_checkpoint)
        val_prob = predict_split(module, data.images["val"])
        entries["threshold"] = tune_thresholds(data.info.task, data.labels["val"], val_prob, config.target_sensitivity)
        entries["threshold_method"] = method_name(config.target_sensitivity)
    for path in {result.best_checkpoint, result.last_checkpoint}:
        annotate_checkpoint(path, **entries)


def _write_manifest(config, data, dataset: str, data_dir, started: str, run) -> None:
    from meddl.atomic import write_json_atomic
    from meddl.manifest import build_manifest, utc_now

    outputs = {"metrics": "metrics.json", "report": "report.html", "checkpoint": str(run.checkpoint)}
    manifest = build_manifest(config=config.to_dict(), data=data, dataset=dataset,
                              data_dir=Path(data_dir) if data_dir is not None else None, started=started,
                              finished=utc_now(), outputs=outputs)
    write_json_atomic(run.output_dir / "manifest.json", manifest)


def _seeds_result(output_dir: Path) -> RunResult:
    """The multi-seed summary as a RunResult: `metrics` is the summary (mean, sd, per_seed), no single checkpoint."""
    import json

    from meddl.evaluate.evaluation import RunResult

    summary = json.loads((output_dir / "metrics.json").read_text())
    return RunResult(summary, {}, output_dir, output_dir / "report.html", output_dir)


def dataset_defaults(dataset: str) -> tuple[str, str | None]:
    """The preset and model `meddl train` uses for `dataset` when the user names none: the dataset's own for a
    registered set, by layout for the user's own data (WFDB records: ECG; RCT text: text; else images)."""
    from meddl.data.ecg import is_wfdb_folder
    from meddl.data.registry import dataset_info, is_user_dataset
    from meddl.data.text import is_rct_text

    if is_user_dataset(dataset):
        path = Path(dataset).expanduser()
        if is_wfdb_folder(path):
            return "ecg", None
        if is_rct_text(path):
            return "text", None
        return "fast", None
    info = dataset_info(dataset)
    return info.default_preset or "fast", info.default_model or None


def evaluate(
    checkpoint: str | Path,
    output_dir: str | Path,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    split: str = "test",
    n_bootstrap: int = 1000,
    force: bool = False,
) -> RunResult:
    """Evaluate a checkpoint on a split of its dataset (or another with the same labels); write metrics and report.

    Works for every kind of meddl checkpoint: image, ECG and text classifiers, and language models (perplexity).
    On the dataset it was trained on, the data must still be what it was then (same fingerprint, see
    `meddl.manifest`): a changed file is refused unless `force`.
    """
    from meddl.data import load_dataset
    from meddl.evaluate.evaluation import evaluate_module
    from meddl.training.checkpoints import load_checkpoint

    start = time.perf_counter()
    module = load_checkpoint(checkpoint)
    name = dataset or module.hparams.dataset
    if module.hparams.get("kind", "image") != "image":
        from meddl.evaluate.sequence_evaluation import evaluate_sequences

        data = load_dataset(name, data_dir=data_dir, seed=module.hparams.seed, options=module.hparams.data_options)
        _check_same_data(checkpoint, data, name, module.hparams.dataset, force)
        return evaluate_sequences(module, data, Path(output_dir), checkpoint=Path(checkpoint),
                                  config={"checkpoint": str(checkpoint), "dataset": name, "split": split},
                                  started_at=start, split=split, n_bootstrap=n_bootstrap)
    data = load_dataset(name, size=module.hparams.image_size, data_dir=data_dir, seed=module.hparams.seed)
    _check_same_data(checkpoint, data, name, module.hparams.dataset, force)
    if split not in data.images:
        raise MeddlError(f"{name}: no split {split!r}; expected one of {sorted(data.images)}")
    return evaluate_module(
        module,
        data,
        Path(output_dir),
        checkpoint=Path(checkpoint),
        config={"checkpoint": str(checkpoint), "dataset": name, "split": split},
        started_at=start,
        split=split,
        n_bootstrap=n_bootstrap,
    )


def _check_same_data(checkpoint, data, name: str, trained_on: str, force: bool) -> None:
    """Refuse to evaluate on "the same" dataset when its samples are no longer those the model was trained with."""
    from meddl.manifest import data_fingerprint
    from meddl.training.checkpoints import checkpoint_entry

    stored = checkpoint_entry(checkpoint, "data_fingerprint")
    if force or name != trained_on or not stored:
        return
    current = data_fingerprint(data)
    changed = sorted(split for split in stored if split in current and stored[split] != current[split])
    if changed:
        raise MeddlError(
            f"{checkpoint}: the {name} data has changed since this model was trained (split(s) {', '.join(changed)} "
            "differ: files edited, added, removed or re-split); its earlier results no longer describe this data. "
            "Retrain, or evaluate anyway with --force"
        )


def predict(checkpoint: str | Path, inputs: list[str | Path], strict: bool = False):
    """Class probabilities for image files or folders of images (PNG, JPEG, DICOM, NIfTI). Inputs unlike the
    training images (see `meddl.guards`) carry warnings, or raise a DataError when `strict`."""
    from meddl.inference import collect_files, predict_files
    from meddl.training.checkpoints import load_checkpoint

    module = load_checkpoint(checkpoint, expect=("image",),
                             purpose="meddl predict (image files; ECG and text models: use meddl evaluate)")
    return predict_files(module, collect_files(inputs), strict=strict)


def generate(checkpoint: str | Path, prompt: str, max_tokens: int = 100, temperature: float = 1.0,
             top_k: int | None = None, seed: int = 0) -> str:
    """Continue `prompt` with a language-model checkpoint (e.g. from ``meddl train pubmedqa-lm``), sampling up to
    `max_tokens` tokens; the same seed gives the same text. Returns the continuation.

    Example: ``meddl.api.generate("runs/pubmedqa-lm/checkpoints/best.ckpt", "the patients", max_tokens=30)``.
    """
    from meddl.data.tokenizer import Tokenizer
    from meddl.generation import sample_text
    from meddl.training.checkpoints import load_checkpoint

    module = load_checkpoint(checkpoint, expect=("language-model",), purpose="meddl generate")
    tokenizer = Tokenizer.from_dict(module.hparams.tokenizer)
    return sample_text(module.net, tokenizer, prompt, max_tokens=max_tokens, temperature=temperature, top_k=top_k,
                       seed=seed)


def explain(
    checkpoint: str | Path,
    inputs: list[str | Path],
    method: str = "gradcam",
    output_dir: str | Path | None = None,
    target: int | str | None = None,
    progress: bool = True,
):
    """Heatmaps of where the model looked, for image files or folders (PNG, JPEG, DICOM, NIfTI): `method` is one
    of `meddl.explain.METHODS`; each image is explained for its predicted class unless `target` (a class name or
    index) is given. With `output_dir`, overlay PNGs and explanations.csv/.json are written there.

    Returns one `meddl.explain.Explanation` per file. Example:
    ``meddl.api.explain("runs/pneu/checkpoints/best.ckpt", ["xray.png"], output_dir="why")[0].overlay``.
    """
    from meddl.explain.files import explain_files
    from meddl.explain.heatmaps import check_method
    from meddl.inference import collect_files
    from meddl.training.checkpoints import load_classifier

    check_method(method)
    files = collect_files(inputs)
    module = load_classifier(checkpoint)
    return explain_files(module, files, method, target, None if output_dir is None else Path(output_dir), progress)


def serve(
    model: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_upload_mb: float = 20,
    backend: str = "onnx",
) -> None:
    """Serve a checkpoint or ONNX export over HTTP until interrupted: /v1/predict, /v1/explain, /v1/model and a
    web page at /. Every /v1/ call needs the X-API-Key header (`api_key`, else $MEDDL_API_KEY, else a printed one).

    Example: ``meddl.serve("runs/pneu/checkpoints/best.ckpt", port=8000)``.
    """
    from meddl.serve.app import run_server

    run_server(model, host=host, port=port, api_key=api_key, max_upload_mb=max_upload_mb, backend=backend)


EXPORT_FORMATS = ("onnx",)


def export(checkpoint: str | Path, output: str | Path | None = None, format: str = "onnx", verify: bool = True,
           tolerance: float = 1e-4):
    """Export a checkpoint for deployment: one ONNX file taking raw pixels (0..255, NCHW) and returning class
    probabilities, with a model card in its metadata, verified against PyTorch (see `meddl.serve.export`).

    Example: ``meddl.export("runs/pneu/checkpoints/best.ckpt").path`` -> ``runs/pneu/checkpoints/best.onnx``.
    """
    from meddl.errors import ConfigError
    from meddl.serve.export import export_onnx

    if format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {format!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    return export_onnx(checkpoint, output, verify=verify, tolerance=tolerance)


def verify_data(dataset: str, data_dir: str | Path | None = None, output: str | Path | None = None,
                near_threshold: int = 4, near_mad: float = 2.0, options: dict | None = None, seed: int = 0):
    """Check a dataset (registered or the user's own) for what makes test results untrustworthy: class counts per
    split, constant or all-zero images, exact and near-duplicate images across splits, and patients (records,
    documents) in more than one split. Writes the JSON report to `output` when given; returns a `VerifyReport`
    whose `.leakage` says whether anything is shared between splits.

    Example: ``meddl.api.verify_data("pneumoniamnist").leakage``.
    """
    from meddl.atomic import write_json_atomic
    from meddl.data import load_dataset
    from meddl.data.registry import is_user_dataset
    from meddl.data.types import ImageSplits
    from meddl.data.verify import image_groups, verify

    data = load_dataset(dataset, data_dir=data_dir, seed=seed, options=options)
    groups = None
    if isinstance(data, ImageSplits) and is_user_dataset(dataset):
        groups = image_groups(data, Path(dataset).expanduser())
    report = verify(data, near_threshold=near_threshold, near_mad=near_mad, groups=groups)
    if output is not None:
        write_json_atomic(Path(output), report.to_dict())
    return report


def deid(input_dir: str | Path, output_dir: str | Path, shift_dates: bool = False, key: str | None = None,
         progress: bool = True):
    """De-identify every DICOM file under `input_dir` into the same tree under `output_dir` (DICOM PS3.15 Annex E
    Basic Profile; pixel data kept bit for bit), with a CSV log of what changed that holds no identifier.

    `shift_dates` moves each patient's dates by one offset instead of removing them, so intervals survive. `key`
    makes new UIDs, pseudonyms and offsets repeat across runs; keep it secret. Returns a `DeidResult` (see
    `meddl.data.deid`). Example: ``meddl.deid("scans/", "scans_deid/", shift_dates=True, key=secret).summary()``.
    """
    from meddl.data.deid import deidentify_folder

    return deidentify_folder(input_dir, output_dir, shift_dates=shift_dates, key=key, progress=progress)
