"""The Python API: the same verbs as the CLI (`train`, `evaluate`, `predict`, `explain`, `export`, `serve`,
`generate`, `synthesize`, `sample`, ...), the same argument names everywhere, and one path for every model family:
each verb asks the task that wrote a checkpoint (or that learns from a dataset) to do its part (`meddl.tasks`)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from meddl.errors import ConfigError, MeddlError
# re-exported for the CLI's argument choices; plain tuples and functions, they load no torch
from meddl.explain import METHODS as EXPLAIN_METHODS  # noqa: F401
from meddl.multiseed import parse_seeds  # noqa: F401
from meddl.training.config import PRESETS  # noqa: F401


def trusting_files():
    """A context in which model files holding more than plain data are opened anyway (see
    `meddl.training.checkpoints.trusting_files`): ``with meddl.api.trusting_files(): meddl.predict(old, files)``."""
    from meddl.training.checkpoints import trusting_files as trusting

    return trusting()

if TYPE_CHECKING:  # evaluation imports torch; `meddl deid` and friends must start without it
    from meddl.evaluate.results import RunResult

def _prepare_output_dir(output_dir: Path, outputs: tuple[str, ...], resume: bool, overwrite: bool) -> None:
    """A fresh run never mixes with an earlier one: refuse, unless resuming or told to overwrite."""
    existing = [name for name in outputs if (output_dir / name).exists()]
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
    task: str | None = None,
    **options,
) -> RunResult | None:
    """Train a model on `dataset` (a registered name, or a path to your own images, ECG records or text), evaluate
    it on the test split, and write checkpoints, metrics.json and report.html into `output_dir`. With several
    devices (data-parallel), the worker processes Lightning starts return None after training; rank 0 returns the
    result.

    `task` picks the model family (`meddl.tasks`: image, sequence, language-model, synthesis); by default the one
    that learns from the dataset's kind of data. `preset` and `model` default to what suits the dataset (`meddl
    datasets`): a small CNN for images, gradient-boosted trees on rhythm and beat-shape features for ECG beats, a
    BiLSTM for text. `data_options` configures ECG and text loaders. Example:
    ``meddl.train("pneumoniamnist", "runs/pneu", epochs=20)`` or
    ``meddl.train("mitdb", "runs/ecg", data_options={"split": "intra-patient"})``.

    `seeds` (e.g. [0, 1, 2]) trains the same configuration once per seed into `output_dir/seed-N/` and writes the
    mean ± sd summary to `output_dir`; the returned result's `metrics` is that summary. Every run writes
    `manifest.json` (versions, config, data checksums, machine, commit, times) beside `metrics.json`.
    """
    from meddl.data import load_dataset
    from meddl.data.registry import preview
    from meddl.manifest import utc_now
    from meddl.tasks import task_for
    from meddl.tasks.runner import train_on
    from meddl.training.distributed import is_worker_process

    if seeds is not None:
        from meddl.multiseed import train_seeds

        if options.get("devices") not in (None, 1) or options.get("num_nodes") not in (None, 1):
            raise MeddlError("--seeds runs one seed after another in one process; for several devices, launch one "
                             "run per seed with --seed N --devices ...")

        train_seeds(train, list(seeds), Path(output_dir), dataset=dataset, model=model, data_dir=data_dir,
                    preset=preset, resume=resume, overwrite=overwrite, progress=progress, callbacks=callbacks,
                    task=task, **options)
        return _seeds_result(Path(output_dir))
    start, started = time.perf_counter(), utc_now()
    chosen = task_for(preview(dataset), task)
    config = train_config(dataset, model=model, preset=preset, task=task, **options)
    output = Path(output_dir)
    if resume and not (output / "checkpoints" / "last.ckpt").is_file():
        raise MeddlError(f"--resume: no {output / 'checkpoints' / 'last.ckpt'} to continue from; start without "
                         "--resume")
    worker = is_worker_process(getattr(config, "devices", 1), getattr(config, "num_nodes", 1))
    if not worker:  # under DDP, rank 0 alone owns the output folder
        _prepare_output_dir(output, chosen.outputs, resume, overwrite)
    data = load_dataset(dataset, data_dir=data_dir, **chosen.load_request(config))
    task_for(data.info, chosen.name)  # the loaded data is of a kind the task learns from
    run = train_on(chosen, config, data, output, data_dir=data_dir, resume=resume, callbacks=callbacks,
                   progress=progress, started_at=start)
    if run is None:  # a data-parallel worker process: rank 0 evaluates and writes
        return None
    _write_manifest(config, data, dataset, data_dir, started, run)
    return run


def train_config(dataset: str, model: str | None = None, preset: str | None = None, task: str | None = None,
                 **options):
    """The typed configuration `train` runs with for these arguments (what `meddl train --print-config` prints):
    the task's config with the dataset's own preset and model unless named, the preset's values unless given."""
    from meddl.data.registry import dataset_defaults, preview
    from meddl.tasks import task_for

    info = preview(dataset)
    chosen = task_for(info, task)
    # the dataset's own preset and model are those of the task that learns from it by default
    default_preset, default_model = dataset_defaults(dataset) if chosen is task_for(info) else (None, None)
    return chosen.make_config(dataset, preset=preset or default_preset, model=model or default_model, **options)


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

    from meddl.evaluate.results import RunResult

    summary = json.loads((output_dir / "metrics.json").read_text())
    return RunResult(summary, {}, output_dir, output_dir / "report.html", output_dir)


def synthesize(dataset: str, output_dir: str | Path, data_dir: str | Path | None = None, resume: bool = False,
               overwrite: bool = False, progress: bool = True, **options) -> RunResult:
    """Train a (class-conditional by default) DCGAN on `dataset`'s training images and write checkpoints, sample
    grids, `gan_run.json` and `report.html` into `output_dir`: `train(..., task="synthesis")`. `options` are
    `GanConfig` fields (epochs, batch_size, lr_g, lr_d, loss="ns"|"wgan-gp", conditional, latent_dim, ema,
    spectral_norm, seed, sample_every, max_minutes, ...); `result.metrics` is the run record (history, collapse).
    Example: ``meddl.api.synthesize("bloodmnist", "runs/gan-blood", epochs=5)``."""
    return train(dataset, output_dir, data_dir=data_dir, resume=resume, overwrite=overwrite, progress=progress,
                 task="synthesis", **options)


def sample(checkpoint: str | Path, n: int = 1000, label: int | str | None = None, seed: int = 0,
           output_dir: str | Path | None = None) -> Path:
    """Draw `n` images from a GAN checkpoint (of class `label`, a name or index; default: the training set's class
    proportions) and write PNGs under `output_dir/png/` and `output_dir/synthetic.npz` (MedMNIST layout: synthetic
    train/val, the real test split); returns the npz path. The same seed gives the same images."""
    from meddl.tasks.synthesis.sampling import load_generator, sample_images, write_samples

    bundle = load_generator(checkpoint)
    images, labels = sample_images(bundle, n, label=label, seed=seed)
    output = Path(output_dir) if output_dir is not None else Path(checkpoint).resolve().parent.parent / "synthetic"
    return write_samples(bundle, images, labels, output, seed=seed)


def evaluate(
    checkpoint: str | Path,
    output_dir: str | Path | None = None,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    split: str | None = None,
    n_bootstrap: int = 1000,
    force: bool = False,
    seed: int = 0,
    **options,
) -> RunResult:
    """Evaluate a checkpoint on a split of its dataset (or another with the same labels); write metrics.json and the
    report into `output_dir` (default: RUN/evaluate-SPLIT beside the checkpoints; RUN/evaluation for a GAN).

    `split` defaults to "test" on the dataset the model was trained on and to "all" on another one: an external
    test set is scored whole, every image, and a user's folder is neither split nor written to.

    Works for every kind of meddl checkpoint: image, ECG and text classifiers, language models (perplexity) and GAN
    generators (FID, precision/recall, memorisation, TSTR; `options` are those of
    `meddl.tasks.synthesis.evaluation.evaluate_generator`). On the dataset it was trained on, the data must still be
    what it was then (same fingerprint, see `meddl.manifest`): a changed file is refused unless `force`.
    """
    from meddl.data import load_dataset
    from meddl.data.types import WHOLE_SPLIT
    from meddl.tasks import RunContext, load_model

    start = time.perf_counter()
    task, module = load_model(checkpoint)
    request = task.data_request(module)
    name = dataset or request.dataset
    external = not _same_dataset(name, request.dataset)
    split = split or (WHOLE_SPLIT if external else "test")
    try:
        data = load_dataset(name, size=request.size, data_dir=data_dir if data_dir is not None else request.data_dir,
                            seed=request.seed, options=request.options, whole=split == WHOLE_SPLIT,
                            record_split=False)
    except ConfigError as error:  # the loader options the model was trained with do not fit the other dataset
        if not external:
            raise
        raise ConfigError(f"{name} cannot be read the way {checkpoint} was trained on {request.dataset} "
                          f"({error})") from None
    if not external:
        _check_same_data(checkpoint, data, name, force)
    task.check_data(module, data)
    if output_dir is None:
        output_dir = Path(checkpoint).resolve().parent.parent / (
            f"evaluate-{split}" if task.name != "synthesis" else "evaluation")
    config = {"checkpoint": str(checkpoint), "dataset": name, "split": split}
    return task.evaluate(module, data, Path(output_dir), RunContext(
        checkpoint=Path(checkpoint), config=config, split=split, started_at=start, n_bootstrap=n_bootstrap,
        seed=seed, options=options))


def _same_dataset(name: str, trained_on: str) -> bool:
    """Whether `name` is the dataset a model was trained on: the same registered name, or the same folder/CSV."""
    from meddl.data.registry import is_user_dataset

    if is_user_dataset(name) and is_user_dataset(trained_on):
        return Path(name).expanduser().resolve() == Path(trained_on).expanduser().resolve()
    return name.lower() == trained_on.lower()


def _check_same_data(checkpoint, data, name: str, force: bool) -> None:
    """Refuse to evaluate on the dataset a model was trained on when its samples are no longer those it was trained
    with."""
    from meddl.manifest import data_fingerprint
    from meddl.training.checkpoints import checkpoint_entry

    stored = checkpoint_entry(checkpoint, "data_fingerprint")
    if force or not stored:
        return
    current = data_fingerprint(data)
    changed = sorted(split for split in stored if split in current and stored[split] != current[split])
    if changed:
        raise MeddlError(
            f"{checkpoint}: the {name} data has changed since this model was trained (split(s) {', '.join(changed)} "
            "differ: files edited, added, removed or re-split); its earlier results no longer describe this data. "
            "Retrain, or evaluate anyway with --force"
        )


def predict(checkpoint: str | Path, inputs: list[str | Path], strict: bool = False, output: str | Path | None = None,
            format: str | None = None):
    """Class probabilities for image files or folders of images (PNG, JPEG, DICOM, NIfTI). Inputs unlike the
    training images (see `meddl.guards`) carry warnings, or raise a DataError when `strict`.

    Returns the list of `Prediction`s; with `format` ("csv" or "json") returns (predictions, text) instead, and
    with `output` also writes that text there (atomically)."""
    from meddl.inference import collect_files, format_predictions
    from meddl.tasks import load_model
    from meddl.tasks.base import tasks_that_predict_files

    task, module = load_model(checkpoint, expect=tasks_that_predict_files(), purpose="meddl predict")
    predictions = task.predict_files(module, collect_files(inputs), strict=strict)
    if format is None and output is None:
        return predictions
    text = format_predictions(predictions, format or "csv")
    if output is not None:
        from meddl.atomic import write_text_atomic

        write_text_atomic(Path(output), text)
    return predictions, text


def generate(checkpoint: str | Path, prompt: str, max_tokens: int = 100, temperature: float = 1.0,
             top_k: int | None = None, seed: int = 0) -> str:
    """Continue `prompt` with a language-model checkpoint (e.g. from ``meddl train pubmedqa-lm``), sampling up to
    `max_tokens` tokens; the same seed gives the same text. Returns the continuation.

    Example: ``meddl.api.generate("runs/pubmedqa-lm/checkpoints/best.ckpt", "the patients", max_tokens=30)``.
    """
    from meddl.data.tokenizer import Tokenizer
    from meddl.tasks import load_model
    from meddl.tasks.language_model.generation import sample_text

    _, module = load_model(checkpoint, expect=("language-model",), purpose="meddl generate")
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
    from meddl.tasks.image import load_classifier

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
    from meddl.data.verify import verify

    data = load_dataset(dataset, data_dir=data_dir, seed=seed, options=options)
    report = verify(data, near_threshold=near_threshold, near_mad=near_mad)
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


def list_datasets():
    """Every registered dataset's `DatasetInfo`, by name."""
    from meddl.data import list_datasets as registered

    return registered()


def list_models():
    """Every registered model's `ModelInfo`, by name."""
    from meddl.models import list_models as registered

    return registered()


def synthesis_summary(metrics: dict) -> str:
    """The lines `meddl gan evaluate` prints for a GAN evaluation's metrics."""
    from meddl.tasks.synthesis.evaluation import format_summary

    return format_summary(metrics)


def selfcheck() -> tuple[str, bool]:
    """This installation against bundled reference outputs: (the table to print, whether every check passed)."""
    from meddl.selfcheck import format_results, run_selfcheck

    results = run_selfcheck()
    return format_results(results), all(r.passed for r in results)
