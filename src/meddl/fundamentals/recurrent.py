"""An Elman recurrent step y[t] = tanh(W_xh x[t] + W_hh y[t-1] + b) and backpropagation through time (BPTT).

The state is the output: y[t] depends on the whole past through y[t-1], so the loss at step t reaches the weights
along every earlier step. BPTT unrolls the loop into a feed-forward graph of T copies that share W_xh, W_hh, b and
runs the ordinary backward pass over it, from the last step to the first:

    g[t]      = dL/dy[t] (the loss's own term at t) + dL/dy[t] through y[t+1]     (the carry from the step after)
    dz[t]     = g[t] * (1 - y[t]^2)                                               (tanh' written through y)
    dW_xh    += dz[t]^T x[t],   dW_hh += dz[t]^T y[t-1],   db += sum_n dz[t]
    dL/dx[t]  = dz[t] W_xh,     carry to step t-1 = dz[t] W_hh

The carry is multiplied by W_hh^T diag(1 - y^2) once per step, which is why gradients over long sequences vanish
(or explode): the motivation for LSTMs and GRUs. Shapes: x (T, N, I), y (T, N, H), y0 (N, H), W_xh (H, I),
W_hh (H, H), b (H,). This equals torch.nn.RNNCell (tanh) with b = b_ih + b_hh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RNNParams:
    """The weights shared by every step; the gradient of the loss with respect to them has the same form."""

    W_xh: np.ndarray
    W_hh: np.ndarray
    b: np.ndarray


def rnn_step(x_t: np.ndarray, y_prev: np.ndarray, params: RNNParams) -> np.ndarray:
    """One step: y[t] = tanh(x[t] W_xh^T + y[t-1] W_hh^T + b) for a batch of rows (N, I), (N, H) -> (N, H)."""
    return np.tanh(x_t @ params.W_xh.T + y_prev @ params.W_hh.T + params.b)


def rnn_forward(xs: np.ndarray, y0: np.ndarray, params: RNNParams) -> np.ndarray:
    """All outputs y[0..T-1] (T, N, H) of the sequence xs (T, N, I) from the initial state y0 (N, H)."""
    ys, y = [], y0
    for x_t in xs:
        y = rnn_step(x_t, y, params)
        ys.append(y)
    return np.stack(ys)


def rnn_backward(
    dys: np.ndarray, xs: np.ndarray, y0: np.ndarray, ys: np.ndarray, params: RNNParams
) -> tuple[np.ndarray, np.ndarray, RNNParams]:
    """BPTT: from dL/dy[t] for every step (T, N, H; zero where the loss ignores a step) to (dL/dxs, dL/dy0,
    dL/dparams)."""
    dW_xh, dW_hh, db = np.zeros_like(params.W_xh), np.zeros_like(params.W_hh), np.zeros_like(params.b)
    dxs = np.zeros_like(xs)
    carry = np.zeros_like(y0)
    for t in reversed(range(len(xs))):
        y_prev = ys[t - 1] if t > 0 else y0
        dz = (dys[t] + carry) * (1.0 - ys[t] ** 2)
        dW_xh += dz.T @ xs[t]
        dW_hh += dz.T @ y_prev
        db += dz.sum(axis=0)
        dxs[t] = dz @ params.W_xh
        carry = dz @ params.W_hh
    return dxs, carry, RNNParams(W_xh=dW_xh, W_hh=dW_hh, b=db)
