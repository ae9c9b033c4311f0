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

RUN_OUTPUTS = ("checkpoints", "logs", "figures", "report.html", "metrics.json", "predictions_test.csv")


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
    **options,
) -> RunResult:
    """Train a model on `dataset` (a registered name, or a path to your own images, ECG records or text), evaluate
    it on the test split, and write checkpoints, metrics.json and report.html into `output_dir`.

    `preset` and `model` default to what suits the dataset (`meddl datasets`): a small CNN for images, a CNN+LSTM for
    ECG beats, a BiLSTM for text. `data_options` configures ECG and text loaders. Example:
    ``meddl.train("pneumoniamnist", "runs/pneu", epochs=20)`` or
    ``meddl.train("mitdb", "runs/ecg", data_options={"split": "intra-patient"})``.
    """
    from meddl.data import load_dataset
    from meddl.data.types import ImageSplits
    from meddl.training.config import make_config

    start = time.perf_counter()
    default_preset, default_model = dataset_defaults(dataset)
    config = make_config(dataset, preset=preset or default_preset, model=model or default_model, **options)
    output = Path(output_dir)
    _prepare_output_dir(output, resume, overwrite)
    data = load_dataset(dataset, size=config.size, data_dir=data_dir, seed=config.seed, options=config.data_options)
    if not isinstance(data, ImageSplits):
        from meddl.training.sequence_runs import train_sequences

        return train_sequences(config, data, output, resume=resume, callbacks=callbacks, progress=progress,
                               started_at=start)
    from meddl.evaluate.evaluation import evaluate_module
    from meddl.training.checkpoints import load_classifier
    from meddl.training.trainer import fit

    result = fit(config, data, output, resume=resume, callbacks=callbacks, progress=progress)
    module = load_classifier(result.best_checkpoint)
    return evaluate_module(
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
) -> RunResult:
    """Evaluate a checkpoint on a split of its dataset (or another with the same labels); write metrics and report."""
    from meddl.data import load_dataset
    from meddl.evaluate.evaluation import evaluate_module
    from meddl.training.checkpoints import load_classifier

    start = time.perf_counter()
    module = load_classifier(checkpoint)
    name = dataset or module.hparams.dataset
    data = load_dataset(name, size=module.hparams.image_size, data_dir=data_dir, seed=module.hparams.seed)
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


def predict(checkpoint: str | Path, inputs: list[str | Path]):
    """Class probabilities for image files or folders of images (PNG, JPEG, DICOM, NIfTI)."""
    from meddl.inference import collect_files, predict_files
    from meddl.training.checkpoints import load_classifier

    module = load_classifier(checkpoint)
    return predict_files(module, collect_files(inputs))


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
