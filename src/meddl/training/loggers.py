"""Where a run's figures are tracked: Lightning's loggers, chosen by name.

`csv` writes OUTPUT/logs/metrics.csv (the local record every run keeps by default), `tensorboard` event files under
OUTPUT/logs/tensorboard/ (`tensorboard --logdir OUTPUT/logs/tensorboard`), `mlflow` a run in an MLflow tracking
store (`pip install 'meddl[mlflow]'`; a local file store ./mlruns unless a tracking URI is given). A resumed run
logs beside the first (logs/resumed-N/, logs/tensorboard/resumed-N/) instead of over it. Every logger writes the
module's hyper-parameters as plain data, so each hparams.yaml reads with `yaml.safe_load` (Lightning would write
tuples and paths as `!!python/...` tags); the checkpoint keeps them as they were.
"""

from __future__ import annotations

import importlib.util
import os
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path

from meddl.atomic import plain
from meddl.errors import ConfigError, did_you_mean

LOGGERS = ("csv", "tensorboard", "mlflow")
DEFAULT_LOGGERS = ("csv", "tensorboard")
DEFAULT_TRACKING_URI = "file:./mlruns"
_PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "'meddl[mlflow]'")}


def logger_names(value: str | Sequence[str]) -> tuple[str, ...]:
    """Logger names from "csv,mlflow" or a list of names; "none" (or nothing) is no logger at all."""
    names = [part.strip() for part in (value.split(",") if isinstance(value, str) else value)]
    names = [name for name in names if name and name != "none"]
    for name in names:
        if name not in LOGGERS:
            hint = did_you_mean(name, LOGGERS)
            raise ConfigError(f"unknown logger {name!r}: {hint + ' ' if hint else ''}expected some of "
                              f"{', '.join(LOGGERS)}, or none")
        module, package = _PACKAGES.get(name, (None, None))
        if module and importlib.util.find_spec(module) is None:
            raise ConfigError(f"the {name} logger needs {module}, which is not installed: pip install {package}")
    return tuple(dict.fromkeys(names))


def make_loggers(names: Sequence[str], output_dir: Path, version: str = "", experiment: str = "meddl",
                 tracking_uri: str | None = None) -> list:
    """Lightning loggers for a run into `output_dir` (`version`: "" for a fresh run, "resumed-N" for a resumed one);
    `experiment` names the MLflow experiment, the run is named after the output folder."""
    loggers = []
    if "csv" in names:
        from lightning.pytorch.loggers import CSVLogger

        loggers.append(_plain(CSVLogger)(str(output_dir), name="logs", version=version))
    if "tensorboard" in names:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(_plain(TensorBoardLogger)(str(output_dir / "logs"), name="tensorboard", version=version))
    if "mlflow" in names:
        from lightning.pytorch.loggers import MLFlowLogger

        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
        if uri.startswith("file:"):
            # MLflow 3 keeps its file store "in maintenance mode" behind this opt-in; a local ./mlruns is what the
            # user asked for here, and needs no database (mlflow-skinny has no SQLite store)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        run_name = output_dir.resolve().name + (f"-{version}" if version else "")
        loggers.append(_plain(MLFlowLogger)(experiment_name=experiment, run_name=run_name, tracking_uri=uri,
                                            tags={"meddl.output_dir": str(output_dir.resolve())}))
    return loggers


def _plain(logger_class: type) -> type:
    """`logger_class` whose `log_hyperparams` receives the hyper-parameters as plain data (`meddl.atomic.plain`)."""

    class PlainHyperparameters(logger_class):
        def log_hyperparams(self, params, *args, **kwargs):
            params = vars(params) if isinstance(params, Namespace) else params
            return super().log_hyperparams(plain(params), *args, **kwargs)

    PlainHyperparameters.__name__ = PlainHyperparameters.__qualname__ = logger_class.__name__
    return PlainHyperparameters
