"""Real (short) training runs through the public API: outputs, resume after an interruption, reproducibility."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch

import meddl
from meddl.errors import MeddlError
from meddl.tasks.image import load_classifier

FAST = dict(epochs=2, batch_size=64, bootstrap=50, progress=False)


def test_train_on_breastmnist_writes_metrics_report_and_checkpoints(medmnist_env, tmp_path):
    result = meddl.train("breastmnist", tmp_path / "run", **FAST)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.5 < metrics["test"]["auc"] <= 1.0  # a trained model beats chance on real data
    assert 0.0 <= metrics["test"]["acc"] <= 1.0
    low, high = metrics["test"]["ci"]["auc"]
    assert low <= metrics["test"]["auc"] <= high
    assert metrics["config"]["model"] == "fast-cnn" and metrics["wall_time_s"] > 0
    assert metrics["test"]["n"] == 156
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "report.html", "figures/roc.png",
                 "predictions_test.csv", "logs/metrics.csv"):
        assert (tmp_path / "run" / name).is_file(), name
    assert result.report == tmp_path / "run" / "report.html"


def test_fresh_run_refuses_to_mix_with_an_earlier_one(medmnist_env, tmp_path):
    meddl.train("breastmnist", tmp_path / "run", **{**FAST, "epochs": 1})
    with pytest.raises(MeddlError, match="already holds a run"):
        meddl.train("breastmnist", tmp_path / "run", **{**FAST, "epochs": 1})
    meddl.train("breastmnist", tmp_path / "run", overwrite=True, **{**FAST, "epochs": 1})


class _StopAtEpoch(L.Callback):
    """Simulates a crash (power cut, killed job) at the start of an epoch, after earlier checkpoints were saved."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def _weights(path):
    return load_classifier(path).state_dict()


def test_resume_after_interruption_gives_the_same_final_weights(medmnist_env, tmp_path):
    options = {**FAST, "epochs": 3}
    meddl.train("breastmnist", tmp_path / "straight", **options)
    with pytest.raises(RuntimeError, match="simulated crash"):
        meddl.train("breastmnist", tmp_path / "resumed", callbacks=[_StopAtEpoch(2)], **options)
    assert not (tmp_path / "resumed" / "metrics.json").exists()  # nothing half-finished is presented as a result
    meddl.train("breastmnist", tmp_path / "resumed", resume=True, **options)
    straight = _weights(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    resumed = _weights(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    history = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert history["best_epoch"] in (1, 2, 3)


def test_same_seed_same_metrics_different_seed_different_weights(medmnist_env, tmp_path):
    options = {**FAST, "epochs": 1}
    a = meddl.train("breastmnist", tmp_path / "a", seed=1, **options).metrics["test"]
    b = meddl.train("breastmnist", tmp_path / "b", seed=1, **options).metrics["test"]
    assert (a["auc"], a["acc"]) == (b["auc"], b["acc"])
    c = _weights(tmp_path / "a" / "checkpoints" / "last.ckpt")
    meddl.train("breastmnist", tmp_path / "c", seed=2, **options)
    d = _weights(tmp_path / "c" / "checkpoints" / "last.ckpt")
    assert any(not torch.equal(c[k], d[k]) for k in c if c[k].is_floating_point())


def test_resume_without_a_checkpoint_is_a_clear_error(medmnist_env, tmp_path):
    with pytest.raises(MeddlError, match="no .*last.ckpt"):
        meddl.train("breastmnist", tmp_path / "never", resume=True, **FAST)


@pytest.mark.parametrize("model", ["seed-cnn", "resnet18-28"])
def test_other_registered_models_train(medmnist_env, tmp_path, model):
    result = meddl.train("breastmnist", tmp_path / model, model=model, **{**FAST, "epochs": 1})
    assert result.metrics["model"] == model
    assert result.metrics["test"]["auc"] is not None


def test_multi_label_and_ordinal_tasks_train(tmp_path, monkeypatch):
    """Tasks without a staged dataset: tiny MedMNIST-layout files for chestmnist (multi-label) and retinamnist."""
    import numpy as np

    rng = np.random.default_rng(0)
    for name, channels, labels in (("chestmnist", 1, rng.integers(0, 2, (120, 14))),
                                   ("retinamnist", 3, rng.integers(0, 5, (120, 1)))):
        shape = (40, 28, 28) if channels == 1 else (40, 28, 28, 3)
        arrays = {}
        for split, sl in (("train", slice(0, 40)), ("val", slice(40, 80)), ("test", slice(80, 120))):
            arrays[f"{split}_images"] = rng.integers(0, 255, shape, dtype=np.uint8)
            arrays[f"{split}_labels"] = labels[sl].astype(np.uint8)
        np.savez(tmp_path / f"{name}.npz", **arrays)
    monkeypatch.setenv("MEDDL_DATA_DIR", str(tmp_path))
    chest = meddl.train("chestmnist", tmp_path / "chest", **{**FAST, "epochs": 1})
    assert len(chest.metrics["test"]["per_class"]) == 14
    retina = meddl.train("retinamnist", tmp_path / "retina", **{**FAST, "epochs": 1})
    assert retina.metrics["task"] == "ordinal"
    assert np.allclose(np.loadtxt(tmp_path / "retina" / "predictions_test.csv", delimiter=",", skiprows=1,
                                  usecols=range(3, 8)).sum(axis=1), 1, atol=1e-3)
