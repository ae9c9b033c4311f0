"""Every hparams.yaml meddl writes reads with `yaml.safe_load`, for every task family: the loggers write the
hyper-parameters as plain data (Lightning would write tuples as `!!python/tuple`), while the checkpoint keeps them
as they were, so a trained model loads and rebuilds exactly the architecture it was trained with."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import SHARED_DATA

from meddl.atomic import plain
from meddl.data import load_dataset
from meddl.tasks import get_task, list_tasks, load_model
from meddl.tasks.runner import fit_task
from meddl.training.checkpoints import read_checkpoint


def _check_hparams_files(run: Path) -> None:
    """Each hparams.yaml under `run` is safe YAML holding the checkpoint's hyper-parameters, and the checkpoint
    still loads into a model whose hyper-parameters are those it was saved with."""
    raw = read_checkpoint(run / "checkpoints" / "last.ckpt")
    files = sorted(run.rglob("hparams.yaml"))
    assert [str(f.relative_to(run)) for f in files] == ["logs/hparams.yaml", "logs/tensorboard/hparams.yaml"]
    for path in files:
        assert "!!python" not in path.read_text()
        assert yaml.safe_load(path.read_text()) == plain(raw["hyper_parameters"])
    _, model = load_model(run / "checkpoints" / "last.ckpt")
    kept = {key: value for key, value in raw["hyper_parameters"].items() if key in model.hparams}
    assert kept and all(model.hparams[key] == value and type(model.hparams[key]) is type(value)
                        for key, value in kept.items())


@pytest.mark.parametrize("task", list_tasks(), ids=lambda task: task.name)
def test_every_family_writes_safe_hparams(task, tmp_path):
    data = task.example_data(seed=0)
    fit_task(task, task.example_config(data.info.name), data, tmp_path / "run", progress=False)
    _check_hparams_files(tmp_path / "run")


def test_an_ecg_model_writes_safe_hparams(tmp_path):
    """ECG beats carry what the text example does not: feature names (a tuple) and the beat loader's options."""
    if not (SHARED_DATA / "mitdb" / "100.dat").is_file():
        pytest.skip(f"shared MIT-BIH data not found under {SHARED_DATA}")
    task = get_task("sequence")
    config = task.make_config("mitdb", preset="ecg", model="cnn1d", epochs=1,
                              data_options={"records": "209,106,100", "rr_features": True})
    data = load_dataset("mitdb", data_dir=SHARED_DATA, **task.load_request(config))
    fit_task(task, config, data, tmp_path / "run", progress=False)
    raw = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert isinstance(raw["hyper_parameters"]["feature_names"], tuple)  # the checkpoint keeps its types
    _check_hparams_files(tmp_path / "run")
