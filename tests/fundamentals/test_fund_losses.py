"""Softmax cross-entropy: value and gradient vs torch's cross_entropy and vs finite differences."""

import numpy as np
import torch
from fund_helpers import GRADCHECK_SETTINGS, assert_gradient, leaf, randn
from hypothesis import given
from hypothesis import strategies as st

from meddl.fundamentals.losses import softmax_cross_entropy


@GRADCHECK_SETTINGS
@given(n=st.integers(1, 6), k=st.integers(2, 5), scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 2**32 - 1))
def test_softmax_cross_entropy_matches_torch(n, k, scale, seed):
    rng = np.random.default_rng(seed)
    logits, labels = scale * randn(rng, n, k), rng.integers(0, k, n)
    loss, grad = softmax_cross_entropy(logits, labels)
    t_logits = leaf(logits)
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(labels))
    t_loss.backward()
    np.testing.assert_allclose(loss, t_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, t_logits.grad.numpy(), rtol=1e-10, atol=1e-14)


@GRADCHECK_SETTINGS
@given(n=st.integers(1, 6), k=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_softmax_cross_entropy_gradient_matches_finite_differences(n, k, seed):
    # Moderate logits only: at a saturated softmax the loss rounds to 0 in float64 and differences see nothing.
    rng = np.random.default_rng(seed)
    logits, labels = randn(rng, n, k), rng.integers(0, k, n)
    _, grad = softmax_cross_entropy(logits, labels)
    assert_gradient(lambda: softmax_cross_entropy(logits, labels)[0], logits, grad, "dlogits")


def test_huge_logits_neither_overflow_nor_lose_the_loss():
    loss, grad = softmax_cross_entropy(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([1, 1]))
    np.testing.assert_allclose(loss, 500.0)  # (1000 + 0) / 2
    assert np.isfinite(grad).all()
