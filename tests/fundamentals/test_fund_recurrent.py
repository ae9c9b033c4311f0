"""Elman RNN and BPTT: outputs and every gradient vs a loop over torch.nn.RNNCell and vs finite differences."""

import numpy as np
import torch
from fund_helpers import GRADCHECK_SETTINGS, assert_gradient, assert_matches_torch, leaf, randn
from hypothesis import assume, given
from hypothesis import strategies as st

from meddl.fundamentals.recurrent import RNNParams, rnn_backward, rnn_forward


@st.composite
def sequences(draw):
    """xs (T, N, I), y0 (N, H), params, and dL/dy per step; half the time the loss sees only the last step, so every
    other step's gradient must arrive through the recurrence alone.

    Weights are drawn at initialisation scale (W_hh = 0.9 x a random orthogonal matrix, W_xh ~ N(0, 1/I)) so that
    the gradient reaching y0 through 5 steps does not vanish below what finite differences in float64 can resolve.
    """
    t, n, i, h = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    orthogonal, _ = np.linalg.qr(randn(rng, h, h))
    params = RNNParams(W_xh=randn(rng, h, i) / np.sqrt(i), W_hh=0.9 * orthogonal, b=0.5 * randn(rng, h))
    dys = randn(rng, t, n, h)
    if draw(st.booleans()):
        dys[:-1] = 0.0
    return randn(rng, t, n, i), np.tanh(randn(rng, n, h)), params, dys


@GRADCHECK_SETTINGS
@given(sequences())
def test_rnn_matches_a_loop_over_torch_rnncell(problem):
    xs, y0, params, dys = problem
    ys = rnn_forward(xs, y0, params)
    dxs, dy0, grads = rnn_backward(dys, xs, y0, ys, params)

    cell = torch.nn.RNNCell(xs.shape[2], y0.shape[1], nonlinearity="tanh").double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(params.W_xh))
        cell.weight_hh.copy_(torch.from_numpy(params.W_hh))
        cell.bias_ih.copy_(torch.from_numpy(params.b))
        cell.bias_hh.zero_()
    txs, ty0 = leaf(xs), leaf(y0)
    outputs, state = [], ty0
    for x_t in txs:
        state = cell(x_t, state)
        outputs.append(state)
    tys = torch.stack(outputs)
    tys.backward(torch.from_numpy(dys))

    assert_matches_torch(ys, tys, "ys")
    assert_matches_torch(dxs, txs.grad, "dxs")
    assert_matches_torch(dy0, ty0.grad, "dy0")
    assert_matches_torch(grads.W_xh, cell.weight_ih.grad, "dW_xh")
    assert_matches_torch(grads.W_hh, cell.weight_hh.grad, "dW_hh")
    assert_matches_torch(grads.b, cell.bias_ih.grad, "db")


@GRADCHECK_SETTINGS
@given(sequences())
def test_bptt_matches_finite_differences(problem):
    xs, y0, params, dys = problem
    ys = rnn_forward(xs, y0, params)
    # A saturated tanh (1 - y^2 ~ 1e-7) shrinks the gradient below float64 finite differences' resolution; like a
    # ReLU kink, such points are left to the autograd comparison above.
    assume(np.min(1.0 - ys**2) > 1e-2)

    def loss() -> float:
        return float(np.sum(rnn_forward(xs, y0, params) * dys))

    dxs, dy0, grads = rnn_backward(dys, xs, y0, ys, params)
    for array, grad, name in (
        (xs, dxs, "dxs"), (y0, dy0, "dy0"),
        (params.W_xh, grads.W_xh, "dW_xh"), (params.W_hh, grads.W_hh, "dW_hh"), (params.b, grads.b, "db"),
    ):
        assert_gradient(loss, array, grad, name)
