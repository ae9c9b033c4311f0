"""The Python API: the same verbs as the CLI (`train`, `evaluate`, `predict`), same argument names everywhere."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from meddl.errors import MeddlError
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
    preset: str = "fast",
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: list | None = None,
    **options,
) -> RunResult:
    """Train a model on `dataset` (a registered name or a folder/CSV of images), evaluate it on the test split,
    and write checkpoints, metrics.json and report.html into `output_dir`.

    Example: ``meddl.train("pneumoniamnist", "runs/pneu", epochs=20)``.
    """
    from meddl.data import load_dataset
    from meddl.evaluate.evaluation import evaluate_module
    from meddl.training.checkpoints import load_classifier
    from meddl.training.config import make_config
    from meddl.training.trainer import fit

    start = time.perf_counter()
    config = make_config(dataset, preset=preset, model=model, **options)
    output = Path(output_dir)
    _prepare_output_dir(output, resume, overwrite)
    data = load_dataset(dataset, size=config.size, data_dir=data_dir, seed=config.seed)
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
