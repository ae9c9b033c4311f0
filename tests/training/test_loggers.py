"""Experiment trackers: a real run logs its per-epoch figures to TensorBoard event files (logs/tensorboard/) and to
an MLflow run in a local file store, and both read back with the trackers' own readers."""

from __future__ import annotations

import json

import pytest
from helpers import SHARED_MEDMNIST

import meddl.api
from meddl.errors import ConfigError
from meddl.training.config import make_config

EPOCHS = 2


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """One 2-epoch BreastMNIST run logged to CSV, TensorBoard and MLflow: (run folder, tracking URI, history)."""
    pytest.importorskip("mlflow")
    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip("shared MedMNIST data not found")
    root = tmp_path_factory.mktemp("tracked")
    uri = f"file:{root / 'mlruns'}"
    meddl.api.train("breastmnist", root / "run", data_dir=SHARED_MEDMNIST, epochs=EPOCHS, batch_size=64,
                    bootstrap=20, progress=False, logger="csv,tensorboard,mlflow", tracking_uri=uri)
    history = json.loads((root / "run" / "metrics.json").read_text())["history"]
    return root / "run", uri, history


def test_an_mlflow_run_holds_the_params_and_each_epochs_metrics(tracked_run, monkeypatch):
    from mlflow.tracking import MlflowClient

    run_dir, uri, history = tracked_run
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks to opt in to its file store
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("breastmnist")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.tags["meddl.output_dir"] == str(run_dir.resolve())
    params = run.data.params
    assert params["model"] == "fast-cnn" and params["epochs"] == str(EPOCHS) and params["lr"] == "0.003"
    assert params["dataset"] == "breastmnist" and params["labels"] == "['malignant', 'normal, benign']"
    for name in ("train_loss", "val_auc", "val_loss"):
        logged = [m.value for m in sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)]
        assert logged == pytest.approx([row[name] for row in history]) and len(logged) == EPOCHS


def test_tensorboard_event_files_hold_each_epochs_metrics(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _, history = tracked_run
    events = EventAccumulator(str(run_dir / "logs" / "tensorboard"))
    events.Reload()
    for name in ("train_loss", "val_auc", "val_acc"):
        assert [e.value for e in events.Scalars(name)] == pytest.approx([row[name] for row in history])


def test_logger_choices_are_checked_before_any_training():
    assert make_config("breastmnist", logger="none").logger == ()
    assert make_config("breastmnist", logger=["mlflow", "csv"]).logger == ("mlflow", "csv")
    with pytest.raises(ConfigError, match="unknown logger 'tensorbord': did you mean tensorboard?"):
        make_config("breastmnist", logger="csv,tensorbord")
    with pytest.raises(ConfigError, match="tracking_uri says where the mlflow logger writes"):
        make_config("breastmnist", tracking_uri="file:./mlruns")
    with pytest.raises(ConfigError, match="holds a password"):  # it would be written into metrics.json
        make_config("breastmnist", logger="mlflow", tracking_uri="https://me:secret@mlflow.example.org")
