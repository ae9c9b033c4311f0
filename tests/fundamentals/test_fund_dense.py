"""Dense layer y = f(x W^T + b): backward vs finite differences and vs torch.autograd, on random shapes."""

import numpy as np
import pytest
import torch
from fund_helpers import GRADCHECK_SETTINGS, assert_gradient, assert_matches_torch, leaf, randn
from hypothesis import assume, given
from hypothesis import strategies as st

from meddl.errors import ConfigError
from meddl.fundamentals.dense import dense_backward, dense_forward

TORCH_ACTIVATIONS = {"identity": lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
shapes = dict(
    n=st.integers(1, 5), n_in=st.integers(1, 6), n_out=st.integers(1, 5),
    name=st.sampled_from(sorted(TORCH_ACTIVATIONS)), seed=st.integers(0, 2**32 - 1),
)


@GRADCHECK_SETTINGS
@given(**shapes)
def test_dense_backward_matches_finite_differences(n, n_in, n_out, name, seed):
    rng = np.random.default_rng(seed)
    x, W, b, upstream = randn(rng, n, n_in), randn(rng, n_out, n_in), randn(rng, n_out), randn(rng, n, n_out)
    assume(name != "relu" or np.abs(x @ W.T + b).min() > 1e-3)  # finite differences are invalid at ReLU's kink

    def loss() -> float:
        return float(np.sum(dense_forward(x, W, b, name)[0] * upstream))

    dx, dW, db = dense_backward(upstream, dense_forward(x, W, b, name)[1])
    for array, grad, label in ((x, dx, "dx"), (W, dW, "dW"), (b, db, "db")):
        assert_gradient(loss, array, grad, f"{name} {label}")


@GRADCHECK_SETTINGS
@given(**shapes)
def test_dense_forward_and_backward_match_torch_autograd(n, n_in, n_out, name, seed):
    rng = np.random.default_rng(seed)
    x, W, b, upstream = randn(rng, n, n_in), randn(rng, n_out, n_in), randn(rng, n_out), randn(rng, n, n_out)
    y, cache = dense_forward(x, W, b, name)
    dx, dW, db = dense_backward(upstream, cache)

    tx, tW, tb = leaf(x), leaf(W), leaf(b)
    ty = TORCH_ACTIVATIONS[name](torch.nn.functional.linear(tx, tW, tb))
    ty.backward(torch.from_numpy(upstream))
    assert_matches_torch(y, ty, "y")
    for ours, theirs, label in ((dx, tx, "dx"), (dW, tW, "dW"), (db, tb, "db")):
        assert_matches_torch(ours, theirs.grad, label)


def test_unknown_activation_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="softplus.*relu"):
        dense_forward(np.ones((1, 2)), np.ones((1, 2)), np.ones(1), "softplus")
