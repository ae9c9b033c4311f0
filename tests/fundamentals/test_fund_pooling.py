"""Max-pooling: forward and backward vs torch max_pool2d (ties included) and vs finite differences."""

import numpy as np
import torch
from fund_helpers import GRADCHECK_SETTINGS, assert_gradient, assert_matches_torch, leaf
from hypothesis import given
from hypothesis import strategies as st

from meddl.fundamentals.pooling import maxpool2d, maxpool2d_backward


@st.composite
def pool_problems(draw, ties: bool = False):
    """x (N, C, H, W), kernel, stride and upstream gradient; with `ties`, x holds few distinct integers."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = kernel + draw(st.integers(0, 5)), kernel + draw(st.integers(0, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Without ties: a shuffled grid of values 0.01 apart, so no two are within a finite-difference step.
    if ties:
        x = rng.integers(0, 3, (n, c, h, w)).astype(float)
    else:
        x = 0.01 * rng.permutation(n * c * h * w).reshape(n, c, h, w)
    out = ((h - kernel) // stride + 1, (w - kernel) // stride + 1)
    return x, kernel, stride, rng.standard_normal((n, c, *out))


def torch_pool(x, kernel, stride, upstream):
    tx = leaf(x)
    ty = torch.nn.functional.max_pool2d(tx, kernel, stride)
    ty.backward(torch.from_numpy(upstream))
    return ty, tx.grad


@GRADCHECK_SETTINGS
@given(st.one_of(pool_problems(), pool_problems(ties=True)))
def test_maxpool_matches_torch_including_tie_routing(problem):
    x, kernel, stride, upstream = problem
    y, cache = maxpool2d(x, kernel, stride)
    ty, tdx = torch_pool(x, kernel, stride, upstream)
    assert_matches_torch(y, ty, "y")
    assert_matches_torch(maxpool2d_backward(upstream, cache), tdx, "dx")


@GRADCHECK_SETTINGS
@given(pool_problems())
def test_maxpool_backward_matches_finite_differences(problem):
    x, kernel, stride, upstream = problem
    _, cache = maxpool2d(x, kernel, stride)
    dx = maxpool2d_backward(upstream, cache)
    assert_gradient(lambda: float(np.sum(maxpool2d(x, kernel, stride)[0] * upstream)), x, dx, "dx")


def test_gradients_add_up_where_overlapping_windows_share_a_winner_and_ties_go_to_the_first():
    x = np.array([[[[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]]])
    _, cache = maxpool2d(x, kernel=2, stride=1)  # the centre wins all four 2x2 windows
    dx = maxpool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0], [0, 10, 0], [0, 0, 0]])

    _, cache = maxpool2d(np.ones((1, 1, 2, 2)), kernel=2)
    np.testing.assert_array_equal(maxpool2d_backward(np.ones((1, 1, 1, 1)), cache)[0, 0], [[1, 0], [0, 0]])
