"""Max-pooling over k x k windows with stride s, and its backward pass, which routes each gradient to the argmax.

y[n, c, i, j] = max_{u, v < k} x[n, c, s*i + u, s*j + v]. The max is piecewise linear: inside each window only the
largest element moves the output, so dL/dx is dL/dy at that element and 0 elsewhere. With overlapping windows
(s < k) one element can win several windows, and its gradients add up.

Ties: at a tie the max has no derivative (only a subgradient). We route the whole gradient to the FIRST maximum in
row-major order within the window (what np.argmax returns), which is also what PyTorch's CPU max_pool2d does, so
the two agree even on ties. Finite differences are not valid at ties; tests draw distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meddl.fundamentals.conv import output_size, window_slices


@dataclass(frozen=True)
class PoolCache:
    """The input shape, the window geometry and, per output position, which of the k*k offsets won."""

    input_shape: tuple[int, ...]
    kernel: int
    stride: int
    argmax: np.ndarray  # (N, C, H', W') integers in [0, k*k): offset u * k + v of the winner


def _offset_views(x: np.ndarray, kernel: int, stride: int) -> list[tuple[slice, slice]]:
    """For each kernel offset (u, v) in row-major order, the strided slices it picks from x, one per output."""
    out_h = output_size(x.shape[2], kernel, stride, 0)
    out_w = output_size(x.shape[3], kernel, stride, 0)
    return [window_slices(u, v, out_h, out_w, stride) for u in range(kernel) for v in range(kernel)]


def maxpool2d(x: np.ndarray, kernel: int = 2, stride: int | None = None) -> tuple[np.ndarray, PoolCache]:
    """Max over each k x k window of x (N, C, H, W) with stride s (default k, no overlap); no padding."""
    stride = kernel if stride is None else stride
    candidates = np.stack([x[:, :, rows, cols] for rows, cols in _offset_views(x, kernel, stride)])
    argmax = candidates.argmax(axis=0)  # first maximum wins ties
    y = np.take_along_axis(candidates, argmax[None], axis=0)[0]
    return y, PoolCache(input_shape=x.shape, kernel=kernel, stride=stride, argmax=argmax)


def maxpool2d_backward(dy: np.ndarray, cache: PoolCache) -> np.ndarray:
    """dL/dx: each dL/dy added onto the input element that won its window (all other elements get 0)."""
    dx = np.zeros(cache.input_shape, dtype=dy.dtype)
    for offset, (rows, cols) in enumerate(_offset_views(dx, cache.kernel, cache.stride)):
        dx[:, :, rows, cols] += np.where(cache.argmax == offset, dy, 0.0)
    return dx
