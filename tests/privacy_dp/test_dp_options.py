"""DP options and models: bad budgets and unfixable models fail with a clear ConfigError before any training, and
the registered models are made DP-compatible (fast-cnn, seed-cnn and resnet18-28 in the fast run; all when slow)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import meddl
from meddl.cli import main
from meddl.errors import ConfigError
from meddl.models import create, list_models
from meddl.training.config import make_config
from meddl.tasks.image.module import ImageClassifier
from meddl.training.privacy import check_trainable, default_delta, make_compatible, plan


# Opacus' hooks see no gradient for the images themselves (the first layer's input); that is expected
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dp": True, "epsilon": 0.0}, "epsilon must be a positive number"),
        ({"dp": True, "epsilon": -1.0}, "epsilon must be a positive number"),
        ({"dp": True}, "--dp needs a privacy budget"),
        ({"dp": True, "epsilon": 3.0, "delta": 1.0}, "delta must be between 0 and 1"),
        ({"dp": True, "epsilon": 3.0, "delta": 0.0}, "delta must be between 0 and 1"),
        ({"dp": True, "epsilon": 3.0, "max_grad_norm": 0.0}, "max_grad_norm must be positive"),
        ({"dp": True, "epsilon": 3.0, "precision": "bf16-mixed"}, "full precision"),
        ({"dp": True, "epsilon": 3.0, "devices": 2}, "one device"),
        ({"epsilon": 3.0}, "add --dp"),
    ],
)
def test_bad_privacy_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        make_config("breastmnist", **options)


def test_cli_prints_one_line_for_a_bad_budget(capsys):
    assert main(["train", "breastmnist", "--dp", "--epsilon", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("meddl: error: epsilon must be a positive number") and error.count("\n") == 1


def test_delta_defaults_below_one_over_n_and_a_larger_one_is_refused():
    assert default_delta(546) == 1e-5 and default_delta(4708) == 1e-5
    assert default_delta(100_000) == 1e-6 and default_delta(200_000) == 1e-6
    config = make_config("breastmnist", dp=True, epsilon=3.0, delta=0.05)
    with pytest.raises(ConfigError, match="not below 1/N"):
        plan(config, n_train=50, sample_rate=0.1, steps_per_epoch=10)


def test_an_unreachable_budget_is_refused():
    config = make_config("breastmnist", dp=True, epsilon=1e-9, epochs=1)
    with pytest.raises(ConfigError, match="cannot be reached"):  # would need more noise than Opacus allows
        plan(config, n_train=100, sample_rate=1.0, steps_per_epoch=1)


@pytest.mark.parametrize("name", ["fast-cnn", "seed-cnn", "resnet18-28"])
def test_registered_models_are_made_dp_compatible(name):
    net = make_compatible(create(name, 1, 2, image_size=28))
    kinds = {type(module).__name__ for module in net.modules()}
    assert not any("BatchNorm" in kind for kind in kinds)
    check_trainable(net, name, in_channels=1, image_size=28)  # per-sample gradients for every parameter
    # the DP architecture is rebuilt exactly from the checkpoint's hyper-parameters
    build = dict(model=name, task="binary", labels=["a", "b"], in_channels=1, image_size=28, dp=True)
    ImageClassifier(**build).load_state_dict(ImageClassifier(**build).state_dict(), strict=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", [info.name for info in list_models() if info.family == "cnn" and info.spatial_dims == 2])
def test_every_registered_model_is_made_dp_compatible(name):
    size = 28 if name.endswith("-28") or name in ("fast-cnn", "seed-cnn") else 64
    check_trainable(make_compatible(create(name, 1, 2, image_size=size)), name, in_channels=1, image_size=size)


class _RunningScale(nn.Module):
    """A learnable scale that also keeps a running mean of its input: a trainable layer with a buffer, which
    Opacus can neither train privately (the buffer holds batch statistics) nor fix."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("running_mean", torch.zeros(1))

    def forward(self, x):
        if self.training:
            self.running_mean.mul_(0.9).add_(0.1 * x.detach().mean())
        return x * self.scale


@pytest.fixture
def unfixable_model():
    from meddl.models import registry

    name = "dp-unfixable-test"
    registry.register_model(name, "cnn", "test only: a layer Opacus cannot make private")(
        lambda in_channels, num_classes, image_size=28: nn.Sequential(
            nn.Conv2d(in_channels, 4, 3), _RunningScale(), nn.Flatten(), nn.Linear(4 * (image_size - 2) ** 2, num_classes)
        )
    )
    yield name
    registry._MODELS.pop(name)


def test_dp_with_an_unfixable_model_is_refused_before_training(unfixable_model, medmnist_env, tmp_path, capsys):
    with pytest.raises(ConfigError, match=f"model '{unfixable_model}' cannot be trained with differential privacy"):
        meddl.train("breastmnist", tmp_path / "run", model=unfixable_model, dp=True, epsilon=3.0, progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert main(["train", "breastmnist", "--output-dir", str(tmp_path / "cli"), "--model", unfixable_model,
                 "--dp", "--epsilon", "3"]) == 2
    assert "cannot be trained with differential privacy" in capsys.readouterr().err
