"""Differentially private training on real (small) BreastMNIST data: the spent epsilon is recorded everywhere, per-image
gradients are clipped and noised, empty Poisson batches train, the checkpoint predicts, and resume keeps the account."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from helpers import SHARED_MEDMNIST, write_real_png_folder

import meddl
from meddl.cli import main
from meddl.data import load_dataset
from meddl.data.types import ImageSplits
from meddl.errors import ConfigError
from meddl.tasks.image import load_classifier
from meddl.training.config import make_config
from meddl.tasks import get_task
from meddl.tasks.runner import fit_task

# Opacus' hooks see no gradient for the images themselves (the first layer's input); that is expected
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


TARGET = 3.0


def _require_data() -> None:
    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")


@pytest.fixture(scope="module")
def cli_dp_run(tmp_path_factory):
    """`meddl train FOLDER --dp --epsilon 3` on 100 real BreastMNIST images saved as PNG class folders."""
    _require_data()
    root = tmp_path_factory.mktemp("dp_cli")
    folder = write_real_png_folder(SHARED_MEDMNIST, root / "breast_pngs", per_class=50)
    code = main([str(a) for a in ("train", folder, "--output-dir", root / "run", "--dp", "--epsilon", TARGET,
                                  "--epochs", "2", "--batch-size", "32", "--bootstrap", "50")])
    assert code == 0
    return folder, root / "run"


def test_dp_run_spends_the_target_epsilon_and_records_it(cli_dp_run, capsys):
    _, run = cli_dp_run
    metrics = json.loads((run / "metrics.json").read_text())
    privacy = metrics["privacy"]
    assert TARGET - 0.05 <= privacy["epsilon"] <= TARGET  # calibrated to reach the target at the last epoch
    assert privacy["delta"] == 1e-5 and privacy["max_grad_norm"] == 1.0 and privacy["accountant"] == "rdp"
    assert privacy["noise_multiplier"] > 0 and 0 < privacy["sample_rate"] < 1
    assert privacy["steps"] == 2 * math.ceil(metrics["split_sizes"]["train"] / 32)  # every planned step was taken
    assert metrics["hardware"]["precision"] == "32-true"  # Opacus' per-sample gradients are float32
    assert metrics["config"]["dp"] is True and metrics["config"]["epsilon"] == TARGET
    assert 0.0 <= metrics["test"]["auc"] <= 1.0
    for name in ("best", "last"):  # the best epoch was chosen after all epochs: it carries the whole run's epsilon
        raw = torch.load(run / "checkpoints" / f"{name}.ckpt", map_location="cpu", weights_only=False)
        assert raw["privacy"] == privacy
    assert "Differential privacy" in (run / "report.html").read_text(encoding="utf-8")


def test_dp_checkpoint_rebuilds_without_batchnorm_and_predicts(cli_dp_run):
    folder, run = cli_dp_run
    model = load_classifier(run / "checkpoints" / "best.ckpt")
    kinds = {type(m).__name__ for m in model.net.modules()}
    assert "GroupNorm" in kinds and not any("BatchNorm" in kind for kind in kinds)
    assert model.privacy["epsilon"] <= TARGET
    predictions = meddl.predict(run / "checkpoints" / "best.ckpt", [folder / "benign"])
    assert len(predictions) == 50
    assert all(abs(sum(p.probabilities.values()) - 1) < 1e-5 for p in predictions)


def _small_breastmnist(n_train: int = 12, n_eval: int = 24) -> ImageSplits:
    data = load_dataset("breastmnist", data_dir=SHARED_MEDMNIST)
    sizes = {"train": n_train, "val": n_eval, "test": n_eval}
    return ImageSplits(info=data.info, images={s: data.images[s][:n] for s, n in sizes.items()},
                       labels={s: data.labels[s][:n] for s, n in sizes.items()})


def fit(config, data, output_dir, **kwargs) -> SimpleNamespace:
    """The image task fitted on in-memory data: the fit's result with the run's DP-SGD record as `privacy`."""
    plan, result = fit_task(get_task("image"), config, data, output_dir, **kwargs)
    return SimpleNamespace(**asdict(result), privacy=plan.state["privacy"].summary())


class _ClippingProbe(L.Callback):
    """Recomputes DP-SGD's clipped sum from the per-sample gradients Opacus stored, and reads off the noise."""

    def __init__(self):
        self.expected: list[torch.Tensor] = []
        self.checked, self.batch_sizes, self.noise = 0, [], []

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.optimizer = trainer.optimizers[0]
        samples = [p.grad_sample for p in module.net.parameters()]
        self.batch_sizes.append(len(samples[0]))
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in samples], dim=1).norm(dim=1)
        factors = (self.optimizer.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        self.expected = [torch.einsum("i,i...", factors, g) for g in samples]

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        params = list(module.net.parameters())
        for param, expected in zip(params, self.expected):
            torch.testing.assert_close(param.summed_grad, expected, rtol=1e-4, atol=1e-6)
        scale = self.optimizer.expected_batch_size
        self.noise.append(torch.cat([(p.grad * scale - p.summed_grad).flatten() for p in params]))
        self.checked += 1


@pytest.fixture(scope="module")
def small_dp_fit(tmp_path_factory):
    """Two DP epochs of 12 steps on 12 BreastMNIST images: batches of one on average, so some are empty."""
    _require_data()
    data = _small_breastmnist()
    config = make_config("breastmnist", dp=True, epsilon=8.0, epochs=2, batch_size=1, bootstrap=0)
    probe = _ClippingProbe()
    result = fit(config, data, tmp_path_factory.mktemp("dp_fit"), callbacks=[probe], progress=False)
    return config, data, probe, result


def test_per_sample_gradients_are_clipped_and_noised(small_dp_fit):
    _, _, probe, result = small_dp_fit
    assert type(probe.optimizer).__name__ == "DPOptimizer"
    assert probe.checked == result.privacy["steps"] == 24
    noise = torch.cat(probe.noise)
    expected_std = result.privacy["noise_multiplier"] * result.privacy["max_grad_norm"]
    assert noise.std().item() == pytest.approx(expected_std, rel=0.05)


def test_empty_poisson_batches_are_trained_on(small_dp_fit):
    _, _, probe, result = small_dp_fit
    assert 0 in probe.batch_sizes  # empty batches happened, and still took a (noise-only) step
    assert len(probe.batch_sizes) == result.privacy["steps"]
    assert all(np.isfinite(row["train_loss"]) for row in result.history)


class _StopAtEpoch(L.Callback):
    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_resumed_dp_run_keeps_the_privacy_account(small_dp_fit, tmp_path):
    config, data, _, straight = small_dp_fit
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(config, data, tmp_path, callbacks=[_StopAtEpoch()], progress=False)
    resumed = fit(config, data, tmp_path, resume=True, progress=False)
    assert resumed.privacy == straight.privacy  # same steps, same epsilon: the accountant was restored
    weights = load_classifier(resumed.last_checkpoint).state_dict()
    for key, value in load_classifier(straight.last_checkpoint).state_dict().items():
        torch.testing.assert_close(weights[key], value)


def test_resume_refuses_to_change_privacy(small_dp_fit):
    config, data, _, straight = small_dp_fit
    run = straight.last_checkpoint.parent.parent
    with pytest.raises(ConfigError, match="trained with --dp"):
        fit(make_config("breastmnist", epochs=2, batch_size=1, bootstrap=0), data, run, resume=True, progress=False)
    with pytest.raises(ConfigError, match="other privacy settings"):
        fit(replace(config, epsilon=4.0), data, run, resume=True, progress=False)
