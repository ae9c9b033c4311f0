"""Running a task on data already in memory: seed, plan, fit with the shared trainer, store the task's entries in
the checkpoints, and end the run as the task does. `meddl.api.train` is this plus loading the data by name, the
output folder's checks and the manifest; tests and benchmarks call it directly on data they make."""

from __future__ import annotations

import time
from pathlib import Path

from meddl.tasks.base import FitPlan, PlanContext, RunContext, Task, load_model


def fit_task(task: Task, config, data, output_dir: Path, data_dir=None, resume: bool = False,
             callbacks: list | None = None, progress: bool = True) -> tuple[FitPlan, object]:
    """(plan, FitResult) of fitting `task` on `data` into `output_dir`; best and last checkpoints carry the data
    fingerprint and the task's own entries (thresholds, statistics)."""
    import lightning as L

    from meddl.manifest import data_fingerprint
    from meddl.training.checkpoints import annotate_checkpoint
    from meddl.training.trainer import fit_module

    output_dir = Path(output_dir)
    L.seed_everything(config.seed, workers=True, verbose=False)
    plan = task.plan(config, data, PlanContext(output_dir, data_dir, resume))
    fit = fit_module(plan.settings, plan.module, plan.train_loader, plan.val_loader, output_dir, resume=resume,
                     callbacks=[*plan.callbacks, *(callbacks or [])], progress=progress)
    if fit.worker:  # a data-parallel worker process: rank 0 evaluates and writes
        return plan, fit
    # the precision the trainer resolved ("auto" -> bf16-mixed or 32-true), so a later evaluation can say what ran
    entries = {"data_fingerprint": data_fingerprint(data), "precision": fit.hardware.get("precision"),
               **task.after_fit(plan, fit, config, data)}
    for path in {fit.best_checkpoint, fit.last_checkpoint}:
        annotate_checkpoint(path, **entries)
    return plan, fit


def train_on(task: Task, config, data, output_dir: Path, data_dir=None, resume: bool = False,
             callbacks: list | None = None, progress: bool = True, started_at: float | None = None):
    """Fit `task` on `data` and end the run as the task does (metrics.json and the report for a classifier);
    returns its RunResult, or None in a data-parallel worker process."""
    started_at = time.perf_counter() if started_at is None else started_at
    plan, fit = fit_task(task, config, data, output_dir, data_dir, resume, callbacks, progress)
    if fit.worker:
        return None
    _, module = load_model(fit.best_checkpoint)
    return task.after_training(module, data, Path(output_dir), RunContext(
        checkpoint=fit.best_checkpoint, config=config.to_dict(), history=fit.history, started_at=started_at,
        best_epoch=fit.best_epoch, extra={"fit_seconds": round(fit.fit_seconds, 2), "hardware": fit.hardware},
        n_bootstrap=getattr(config, "bootstrap", 0), seed=config.seed, resumed=resume,
        options={"config": config, "fit": fit, "data_dir": data_dir, **plan.state}))
