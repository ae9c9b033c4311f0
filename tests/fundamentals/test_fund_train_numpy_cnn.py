"""The NumPy CNN of the worked example: its whole backward pass vs finite differences, and a short real training run
on BreastMNIST that must lower the loss and report figures beside the majority-class baseline."""

import numpy as np
import pytest
from fund_helpers import assert_gradient

from meddl.errors import ConfigError
from meddl.fundamentals.train_numpy_cnn import (
    NumpyCNNConfig,
    init_cnn,
    load_breastmnist,
    loss_and_gradients,
    main,
    sgd_epoch,
    train,
)

PARAMETERS = ("conv_w", "conv_b", "dense_W", "dense_b")


def test_whole_network_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    model = init_cnn(filters=2, image_size=6, rng=rng)
    model.dense_W[...] = 0.5 * rng.standard_normal(model.dense_W.shape)  # zero at init would hide the conv's gradient
    x, y = rng.standard_normal((3, 1, 6, 6)), np.array([0, 1, 1])
    _, grads = loss_and_gradients(model, x, y)
    for name in PARAMETERS:
        assert_gradient(lambda: loss_and_gradients(model, x, y)[0], getattr(model, name), getattr(grads, name), name)


def test_one_epoch_on_64_real_images_lowers_the_loss(shared_medmnist):
    x, y = load_breastmnist(shared_medmnist)["train"]
    x, y = (x[:64] - x[:64].mean()) / x[:64].std(), y[:64]
    rng = np.random.default_rng(0)
    model = init_cnn(filters=8, image_size=28, rng=rng)
    before = loss_and_gradients(model, x, y)[0]
    sgd_epoch(model, x, y, lr=NumpyCNNConfig().lr, batch_size=16, rng=rng)
    after = loss_and_gradients(model, x, y)[0]
    assert before == pytest.approx(np.log(2))  # zero-initialised logits: both classes equally likely
    assert after < before - 0.05


def test_command_trains_and_reports_test_figures_beside_the_majority_baseline(shared_medmnist, capsys):
    assert main(["--train-size", "64", "--epochs", "1", "--data-dir", str(shared_medmnist)]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "BreastMNIST test (156 images), trained on 64" in out
    assert "majority class 0.731" in out  # 114 of the 156 test images are benign/normal


def test_bad_configuration_is_a_config_error():
    with pytest.raises(ConfigError, match="lr > 0"):
        train(NumpyCNNConfig(lr=0.0))
