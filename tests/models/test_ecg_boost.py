"""ecg-boost: the torch walk of the trees matches scikit-learn, the fit reads the training split only, and a short
real run trains, evaluates and loads back with the safe loader."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from meddl.data.types import DatasetInfo, SignalSplits
from meddl.models import create
from meddl.models.ecg_boost import BoostSettings, _classifier, fit_beat_boost

SHARED = Path("/work/shared/data")
NAMES = ("a", "b", "c", "d")
SMALL = BoostSettings(max_iter=20, min_samples_leaf=20, folds=3, features=NAMES)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _beats(rng: np.random.Generator, n: int = 600, n_records: int = 6):
    """Four classes told apart (noisily) by features a and b; c and d are noise; six records."""
    labels = rng.integers(0, 4, n)
    features = rng.normal(0, 1, (n, 4)).astype(np.float32)
    features[:, 0] += 2 * (labels % 2)
    features[:, 1] += 2 * (labels // 2)
    return features, labels, np.array([f"r{i % n_records}" for i in range(n)])


def test_the_torch_trees_give_scikit_learns_logits_plus_the_offsets():
    features, labels, records = _beats(np.random.default_rng(0))
    fit = fit_beat_boost(features, labels, records, NAMES, 4, settings=SMALL)
    net = create("ecg-boost", 1, 4, length=8, n_features=4, **fit.to_model_kwargs())
    net.load_fit(fit)
    logits = net(torch.zeros(len(features), 1, 8), torch.from_numpy(features)).detach().double().numpy()
    reference = _classifier(SMALL, 0).fit(features.astype(np.float64), labels)
    expected = reference._raw_predict(features.astype(np.float64)) + np.asarray(fit.offsets)
    assert np.abs(logits - expected).max() < 1e-4
    assert fit.cv["grouped_by"] == "record" and fit.cv["folds"] == 3 and fit.cv["macro_f1"] > 0.5


def _splits(rng: np.random.Generator) -> SignalSplits:
    parts = {split: _beats(rng, n) for split, n in (("train", 600), ("val", 120), ("test", 240))}
    info = DatasetInfo(name="synthetic-ecg", task="multi-class", n_channels=1, labels=("N", "S", "V", "F"),
                       splits={s: len(p[1]) for s, p in parts.items()}, license="synthetic", kind="ecg")
    from meddl.data.ecg_options import EcgOptions

    return SignalSplits(info=info, signals={s: np.zeros((len(p[1]), 1, 8), np.float32) for s, p in parts.items()},
                        labels={s: p[1] for s, p in parts.items()}, groups={s: p[2] for s, p in parts.items()},
                        features={s: p[0] for s, p in parts.items()}, feature_names=NAMES, sampling_rate=360.0,
                        options=EcgOptions())


class Untouchable:
    """Test-split labels that fail any read but their count: the fit must not look at them."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def _read(self, *args, **kwargs):
        raise AssertionError("the test split's labels were read while fitting")

    __getitem__ = __iter__ = __array__ = _read


def test_the_fit_in_plan_never_reads_validation_or_test_labels(tmp_path, monkeypatch):
    import meddl.models.ecg_boost as boost
    from meddl.tasks.base import PlanContext
    from meddl.tasks.sequence.task import SequenceTask

    monkeypatch.setattr(boost.fit_beat_boost, "__defaults__", (0, SMALL))
    task = SequenceTask()
    config = task.make_config("synthetic-ecg", preset="ecg")
    data = _splits(np.random.default_rng(1))
    first = task.plan(config, data, PlanContext(tmp_path)).module
    scrambled = replace(data, labels={**data.labels, "test": Untouchable(240),
                                      "val": np.random.default_rng(9).permutation(data.labels["val"])})
    second = task.plan(config, scrambled, PlanContext(tmp_path)).module
    assert config.model == "ecg-boost"
    for name, tensor in first.net.state_dict().items():
        assert torch.equal(tensor, second.net.state_dict()[name]), name


@pytest.mark.skipif(not (SHARED / "mitdb" / "208.atr").is_file(), reason="shared MIT-BIH records not found")
def test_a_short_real_run_trains_evaluates_and_loads_back_safely(tmp_path):
    from meddl.api import train
    from meddl.tasks.base import load_model

    run = tmp_path / "run"
    train("mitdb", run, data_dir=SHARED, progress=False, bootstrap=20,
          data_options={"records": "106,118,119,208,209,233"})
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "ecg-boost" and metrics["test"]["n"] > 1000
    _, module = load_model(run / "checkpoints" / "best.ckpt")  # read_checkpoint: torch.load(weights_only=True)
    assert module.hparams.model_kwargs["cv"]["grouped_by"] == "record"
    assert module.net.feature.shape[0] == 4 * module.hparams.model_kwargs["cv"]["settings"]["max_iter"]
    assert (run / "report.html").is_file()
