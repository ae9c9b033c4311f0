"""The Task protocol and the one registry of tasks.

A task is a model family: what is learned from which data (`image` classification, `sequence` classification of ECG
beats and text, `language-model`, `synthesis` by a GAN). Each owns its module, loss, metrics, report and
prediction; the shared machinery underneath (`meddl.training`: fitting, checkpoints, privacy, distribution;
`meddl.evaluate`: metrics, figures, thresholds, the report shell) knows no task. `meddl.api` runs every family by
the same steps:

    task = task_for(info)                     # or get_task("synthesis")
    config = task.make_config(dataset, ...)   # the task's typed configuration
    data = load_dataset(dataset, **task.load_request(config))
    plan = task.plan(config, data, context)   # module, loaders, FitSettings, callbacks
    fit = fit_module(plan.settings, plan.module, plan.train_loader, plan.val_loader, ...)
    task.after_fit(...)                       # entries stored in the checkpoints (thresholds, statistics)
    module = load_model(fit.best_checkpoint)  # found again by the task name written into the checkpoint
    task.after_training(module, data, output_dir, run)   # metrics.json + report

The shape follows MONAI's bundle workflows (a fixed set of required properties each workflow provides) and
scikit-learn's estimator checks: `tests/tasks/test_conformance.py` runs every registered task through these steps
on the tiny data its `example_data` makes, so a new family is tested by registering it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from meddl.data.types import DatasetInfo
from meddl.errors import ConfigError, MeddlError, did_you_mean


@dataclass(frozen=True)
class FitPlan:
    """What a task hands the shared trainer: the module, its loaders and how to fit them.

    `val_loader` None: the task has no validation metric (a GAN), so only `last.ckpt` is kept. `state` is whatever
    the task needs again in `after_fit` (e.g. the DP-SGD accountant)."""

    module: Any
    train_loader: Any
    val_loader: Any
    settings: Any  # meddl.training.trainer.FitSettings
    callbacks: tuple = ()
    state: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PlanContext:
    """Where a training run happens: its output folder (callbacks may write there, e.g. sample grids), the data
    folder it read from (None: the default) and whether it resumes from `output_dir/checkpoints/last.ckpt`."""

    output_dir: Path
    data_dir: str | Path | None = None
    resume: bool = False


@dataclass(frozen=True)
class RunContext:
    """What an evaluation knows beyond the module and the data: where the checkpoint is, the run's configuration
    and history, which split to score, and the task's own evaluation options."""

    checkpoint: Path
    config: dict
    split: str = "test"
    history: list[dict] = field(default_factory=list)
    started_at: float | None = None
    best_epoch: int | None = None
    extra: dict = field(default_factory=dict)
    n_bootstrap: int = 1000
    seed: int = 0
    fit_seconds: float | None = None
    epochs_trained: int | None = None
    resumed: bool = False
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DataRequest:
    """How to load the data a trained model reads: `load_dataset(dataset, size=..., seed=..., options=...,
    data_dir=...)` (data_dir None: the user's or the default)."""

    dataset: str
    size: int = 28
    seed: int = 0
    options: dict = field(default_factory=dict)
    data_dir: str | None = None


@runtime_checkable
class Task(Protocol):
    """A model family behind one protocol (see the module docstring for the order of the calls).

    name: the registry name, written into every checkpoint the task trains (`TASK_KEY`).
    described: what one of its checkpoints holds, for messages ("an image classifier").
    default_for_data: whether `task_for` picks it for data it accepts (False: only when asked by name).
    predicts_files: whether its models read input files (`meddl predict`); such a task implements `predict_files`.
    outputs: the files and folders a run writes into its output folder (refused, or replaced by --overwrite).
    metric_keys: keys `evaluate` always writes into metrics.json, under the scored split (a GAN, scored against the
        whole real set, at the top level); the conformance test checks them.
    """

    name: str
    described: str
    default_for_data: bool
    predicts_files: bool
    outputs: tuple[str, ...]
    metric_keys: tuple[str, ...]

    def accepts(self, info: DatasetInfo) -> bool:
        """Whether this task can learn from a dataset described by `info`."""

    def make_config(self, dataset: str, preset: str | None = None, model: str | None = None, **options) -> Any:
        """The task's typed configuration from a preset and explicit options (None keeps the preset's value)."""

    def load_request(self, config: Any) -> dict:
        """Keyword arguments for `load_dataset` (size, seed, options) that this configuration asks for."""

    def plan(self, config: Any, data: Any, context: PlanContext) -> FitPlan:
        """Module, loaders and fit settings for `data`; called right after seeding, so the weights repeat."""

    def after_fit(self, plan: FitPlan, fit: Any, config: Any, data: Any) -> dict:
        """Entries to store in the run's checkpoints after fitting (decision thresholds, input statistics...)."""

    def load(self, path: Path, raw: dict) -> Any:
        """The trained model in a checkpoint this task wrote (`raw`: the file's plain contents), ready to use."""

    def data_request(self, module: Any) -> DataRequest:
        """Which data a trained model was fitted on, and how to load it again for evaluation."""

    def check_data(self, module: Any, data: Any) -> None:
        """Raise a DataError naming the difference when `module` cannot read `data` (labels, shape, kind)."""

    def after_training(self, module: Any, data: Any, output_dir: Path, run: RunContext) -> Any:
        """What a training run ends with (metrics.json and the report for a classifier); returns the result."""

    def evaluate(self, module: Any, data: Any, output_dir: Path, run: RunContext) -> Any:
        """Score `module` on `run.split` of `data`; writes metrics.json and the report; returns a RunResult."""

    def predict(self, module: Any, data: Any, split: str) -> Any:
        """The model's outputs for every sample of `split` (probabilities; generated images for synthesis)."""

    def predict_files(self, module: Any, files: list[Path], strict: bool = False) -> list:
        """Predictions for input files (images); only tasks with `predicts_files`."""

    def example_data(self, seed: int = 0) -> Any:
        """A tiny synthetic dataset of the kind this task accepts (for the conformance test and examples)."""

    def example_config(self, dataset: str) -> Any:
        """A configuration that fits `example_data` in a few seconds."""

    def example_evaluation(self) -> dict:
        """`RunContext.options` that evaluate a model of `example_config` in a few seconds."""


class SupervisedTask:
    """What the tasks trained from a `TrainConfig` share (image, sequence, language model): config from a preset,
    loading by the hyper-parameters saved in the checkpoint, evaluation of the test split at the end of training.
    A subclass names `default_preset` and `module_class` and implements the rest of the protocol."""

    default_preset = "fast"
    module_class: Any = None
    # Ensembles, weight averaging, test-time augmentation and label smoothing are built for image classifiers.
    takes_image_recipe = False

    def make_config(self, dataset: str, preset: str | None = None, model: str | None = None, **options):
        from meddl.training.config import make_config

        config = make_config(dataset, preset=preset or self.default_preset, model=model, **options)
        unsupported = [] if self.takes_image_recipe else config.image_recipe_options()
        if unsupported:
            raise ConfigError(f"{', '.join(unsupported)}: options of image classifiers; {self.described} "
                              "does not take them")
        return config

    def load_request(self, config) -> dict:
        return {"size": config.size, "seed": config.seed, "options": config.data_options}

    def after_fit(self, plan: FitPlan, fit, config, data) -> dict:
        return {}

    def load(self, path: Path, raw: dict):
        module = self.module_class(**raw.get("hyper_parameters", {}))
        module.load_state_dict(raw["state_dict"])
        return module.eval()

    def data_request(self, module) -> DataRequest:
        hp = module.hparams
        return DataRequest(dataset=hp.dataset, size=hp.get("image_size", 28), seed=hp.seed,
                           options=dict(hp.get("data_options") or {}))

    def after_training(self, module, data, output_dir: Path, run: RunContext):
        return self.evaluate(module, data, output_dir, run)

    def example_evaluation(self) -> dict:
        return {}


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add a task under `task.name`; tasks register themselves when their package is imported."""
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    _TASKS[task.name] = task
    return task


def _ensure_registered() -> None:
    """Import every task package under `meddl/tasks/` (each registers itself): a new family is a new folder."""
    import importlib
    import pkgutil

    import meddl.tasks

    for found in pkgutil.iter_modules(meddl.tasks.__path__):
        if found.ispkg:
            importlib.import_module(f"meddl.tasks.{found.name}")


def list_tasks() -> list[Task]:
    """Every registered task, in registration order (defaults first)."""
    _ensure_registered()
    return list(_TASKS.values())


def get_task(name: str) -> Task:
    """The task registered as `name`; a MeddlError lists the registered names."""
    _ensure_registered()
    try:
        return _TASKS[name]
    except KeyError:
        hint = did_you_mean(name, _TASKS)
        raise MeddlError(f"unknown task {name!r}: {hint + ' ' if hint else ''}expected one of "
                         f"{', '.join(_TASKS)}") from None


def tasks_that_predict_files() -> tuple[str, ...]:
    """The names of the tasks whose models read input files."""
    return tuple(task.name for task in list_tasks() if task.predicts_files)


def task_for(info: DatasetInfo, name: str | None = None) -> Task:
    """The task that learns from a dataset described by `info`: `name` if given (checked against the data), else the
    first default task that accepts it."""
    _ensure_registered()
    if name is not None:
        task = get_task(name)
        if not task.accepts(info):
            raise MeddlError(f"{info.name} holds {info.kind} data ({info.task}); the {name} task cannot learn from it")
        return task
    for task in _TASKS.values():
        if task.default_for_data and task.accepts(info):
            return task
    raise MeddlError(f"{info.name}: no task learns from {info.kind} data with task type {info.task}")


def _legacy_task(raw: dict) -> str | None:
    """The task of a checkpoint written by meddl 0.1, which recorded no task name: read once from the
    hyper-parameters that release wrote (image classifiers: model/task/labels/in_channels/image_size; the others a
    `kind`). Files written since carry `TASK_KEY`."""
    hparams = raw.get("hyper_parameters") or {}
    if {"model", "task", "labels", "in_channels", "image_size"} <= set(hparams):
        return "image"
    return {"ecg": "sequence", "text": "sequence", "language-model": "language-model",
            "gan": "synthesis"}.get(hparams.get("kind"))


def task_for_checkpoint(path: str | Path, raw: dict) -> Task:
    """The task that wrote a checkpoint, from the task name stored in it."""
    from meddl.training.checkpoints import TASK_KEY

    name = raw.get(TASK_KEY) if isinstance(raw, dict) else None
    name = name or (_legacy_task(raw) if isinstance(raw, dict) else None)
    if name is None:
        raise MeddlError(f"{path}: not a meddl checkpoint (no task recorded); expected a best.ckpt or last.ckpt "
                         "written by `meddl train` or `meddl gan train`")
    return get_task(name)


def load_model(path: str | Path, expect: tuple[str, ...] | None = None, purpose: str = "") -> tuple[Task, Any]:
    """(task, trained model) of any meddl checkpoint. `expect` lists the task names the caller can use; another is a
    MeddlError naming what `purpose` takes, e.g. ``load_model(p, ("language-model",), "meddl generate")``."""
    from meddl.training.checkpoints import read_checkpoint

    path = Path(path)
    raw = read_checkpoint(path)
    task = task_for_checkpoint(path, raw)
    if expect is not None and task.name not in expect:
        wanted = " or ".join(get_task(name).described for name in expect)
        raise MeddlError(f"{path} holds {task.described}; {purpose or 'this command'} takes {wanted}")
    try:
        return task, task.load(path, raw)
    except (RuntimeError, KeyError, TypeError) as error:  # weights or hyper-parameters that do not fit together
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MeddlError(f"{path}: {task.described} whose recorded architecture does not match its weights "
                         f"({first[:200]}); retrain it, or use the file it was copied from") from None
