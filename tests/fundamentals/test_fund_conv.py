"""2D correlation and convolution: forward and backward vs torch (conv2d is correlation), scipy and finite
differences, on random batch/channel/size/kernel/stride/padding; and the relations between the two operations."""

import numpy as np
import pytest
import scipy.signal
import torch
from fund_helpers import GRADCHECK_SETTINGS, assert_gradient, assert_matches_torch, leaf, randn
from hypothesis import given
from hypothesis import strategies as st

from meddl.errors import ConfigError
from meddl.fundamentals.conv import convolve2d, convolve2d_backward, correlate2d, correlate2d_backward


@st.composite
def conv_problems(draw):
    """x (N, C, H, W), w (F, C, kh, kw), b (F,), stride, padding and an upstream gradient of the output's shape."""
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = kh + draw(st.integers(0, 4)), kw + draw(st.integers(0, 4))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x, weight, bias = randn(rng, n, c, h, w), randn(rng, f, c, kh, kw), randn(rng, f)
    out_h, out_w = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    return x, weight, bias, stride, padding, randn(rng, n, f, out_h, out_w)


@GRADCHECK_SETTINGS
@given(conv_problems())
def test_correlate2d_is_torch_conv2d_forward_and_backward(problem):
    x, w, b, stride, padding, upstream = problem
    y = correlate2d(x, w, b, stride, padding)
    dx, dw, db = correlate2d_backward(upstream, x, w, stride, padding)
    tx, tw, tb = leaf(x), leaf(w), leaf(b)
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    ty.backward(torch.from_numpy(upstream))
    assert_matches_torch(y, ty, "y")
    for ours, theirs, name in ((dx, tx, "dx"), (dw, tw, "dw"), (db, tb, "db")):
        assert_matches_torch(ours, theirs.grad, name)


@GRADCHECK_SETTINGS
@given(conv_problems())
def test_convolve2d_is_conv2d_with_the_kernel_flipped(problem):
    x, w, b, stride, padding, upstream = problem
    y = convolve2d(x, w, b, stride, padding)
    dx, dw, db = convolve2d_backward(upstream, x, w, stride, padding)
    tx, tw, tb = leaf(x), leaf(w), leaf(b)
    ty = torch.nn.functional.conv2d(tx, torch.flip(tw, dims=(2, 3)), tb, stride=stride, padding=padding)
    ty.backward(torch.from_numpy(upstream))
    assert_matches_torch(y, ty, "y")
    for ours, theirs, name in ((dx, tx, "dx"), (dw, tw, "dw"), (db, tb, "db")):
        assert_matches_torch(ours, theirs.grad, name)


@GRADCHECK_SETTINGS
@given(conv_problems(), st.booleans())
def test_conv_backward_matches_finite_differences(problem, flipped):
    x, w, b, stride, padding, upstream = problem
    forward, backward = (convolve2d, convolve2d_backward) if flipped else (correlate2d, correlate2d_backward)

    def loss() -> float:
        return float(np.sum(forward(x, w, b, stride, padding) * upstream))

    dx, dw, db = backward(upstream, x, w, stride, padding)
    for array, grad, name in ((x, dx, "dx"), (w, dw, "dw"), (b, db, "db")):
        assert_gradient(loss, array, grad, f"{forward.__name__} {name}")


@GRADCHECK_SETTINGS
@given(h=st.integers(3, 8), w=st.integers(3, 8), kh=st.integers(1, 3), kw=st.integers(1, 3), seed=st.integers(0, 99))
def test_single_channel_matches_scipy_signal_definitions(h, w, kh, kw, seed):
    rng = np.random.default_rng(seed)
    image, kernel = randn(rng, h, w), randn(rng, kh, kw)
    as_batch = image[None, None], kernel[None, None]
    np.testing.assert_allclose(correlate2d(*as_batch)[0, 0], scipy.signal.correlate2d(image, kernel, "valid"))
    np.testing.assert_allclose(convolve2d(*as_batch)[0, 0], scipy.signal.convolve2d(image, kernel, "valid"))


@GRADCHECK_SETTINGS
@given(conv_problems())
def test_input_gradient_of_correlation_is_full_convolution_with_the_kernel(problem):
    """For stride 1: dL/dx = convolve2d(dL/dy, w with in/out channels swapped, padding k - 1)."""
    x, w, _, _, _, _ = problem
    k = min(w.shape[2:])
    w = w[:, :, :k, :k]
    dy = np.random.default_rng(0).standard_normal(correlate2d(x, w).shape)
    dx, _, _ = correlate2d_backward(dy, x, w)
    np.testing.assert_allclose(dx, convolve2d(dy, w.transpose(1, 0, 2, 3), padding=k - 1), atol=1e-12)


def test_bad_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="does not fit"):
        correlate2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ConfigError, match="2 channels but the kernel expects 1"):
        correlate2d(np.zeros((1, 2, 4, 4)), np.zeros((1, 1, 3, 3)))
