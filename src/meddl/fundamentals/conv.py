"""2D cross-correlation and convolution for batches of multi-channel images, with stride, zero padding and backward.

What frameworks call "convolution" (torch.nn.functional.conv2d, Keras Conv2D) is cross-correlation:

    correlation:  y[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * x[n, c, s*i + u, s*j + v]
    convolution:  y[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * x[n, c, s*i + kh-1-u, s*j + kw-1-v]

(x zero-padded by p on each side; s the stride). Convolution slides the kernel flipped by 180 degrees, so

    convolve2d(x, w) = correlate2d(x, w[:, :, ::-1, ::-1]).

Frameworks use correlation because the kernel is learned: a learned flipped kernel is just another kernel, so the
flip buys nothing and costs an index reversal. Convolution's own merit, commutativity and associativity (useful
when composing fixed filters in signal processing), plays no role when the kernel is a parameter.

The backward pass of correlation is itself a correlation/convolution, which is why the two names keep meeting:
dL/dw[f, c, u, v] correlates the input with dL/dy, and (for stride 1) dL/dx is the "full" convolution of dL/dy with
the kernel, i.e. dL/dx = convolve2d(dL/dy, w with in/out channels swapped, padding = k - 1). `correlate2d_backward`
computes both directly by scattering each kernel offset's contribution, which also covers stride > 1.
"""

from __future__ import annotations

import numpy as np

from meddl.errors import ConfigError


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 p - k) / s) + 1: the number of kernel placements along one axis."""
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ConfigError(f"kernel {kernel} does not fit an input of size {size} with padding {padding}")
    return out


def window_slices(u: int, v: int, out_h: int, out_w: int, stride: int) -> tuple[slice, slice]:
    """The slices of the (padded) input that kernel offset (u, v) touches, one element per output position."""
    return slice(u, u + stride * (out_h - 1) + 1, stride), slice(v, v + stride * (out_w - 1) + 1, stride)


def correlate2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Cross-correlation (a framework's "conv2d") of x (N, C, H, W) with w (F, C, kh, kw); returns (N, F, H', W').

    Written as a loop over the kh * kw kernel offsets: each offset multiplies a strided view of the input by a
    (F, C) matrix, so the loop is short and the arithmetic is done by `einsum`.
    """
    n, c, h, width = x.shape
    f, c_w, kh, kw = w.shape
    if c != c_w:
        raise ConfigError(f"input has {c} channels but the kernel expects {c_w}")
    out_h, out_w = output_size(h, kh, stride, padding), output_size(width, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((n, f, out_h, out_w), dtype=np.result_type(x, w))
    for u in range(kh):
        for v in range(kw):
            rows, cols = window_slices(u, v, out_h, out_w, stride)
            y += np.einsum("nchw,fc->nfhw", xp[:, :, rows, cols], w[:, :, u, v])
    if b is not None:
        y += b[None, :, None, None]
    return y


def correlate2d_backward(
    dy: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dw, dL/db) of `correlate2d` from dL/dy (N, F, H', W').

    Each kernel offset (u, v) saw the strided view xp[:, :, u::s, v::s]; its weight gradient is that view
    correlated with dy, and its input gradient is dy scattered back (added) onto the same view. Overlapping windows
    simply add up. The padding's gradient is cut off at the end, since the zeros are not inputs.
    """
    _, _, h, width = x.shape
    _, _, kh, kw = w.shape
    out_h, out_w = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp = np.zeros_like(xp, dtype=np.result_type(x, dy))
    dw = np.zeros_like(w, dtype=np.result_type(w, dy))
    for u in range(kh):
        for v in range(kw):
            rows, cols = window_slices(u, v, out_h, out_w, stride)
            dw[:, :, u, v] = np.einsum("nfhw,nchw->fc", dy, xp[:, :, rows, cols])
            dxp[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dy, w[:, :, u, v])
    dx = dxp[:, :, padding : padding + h, padding : padding + width]
    return dx, dw, dy.sum(axis=(0, 2, 3))


def flip_kernel(w: np.ndarray) -> np.ndarray:
    """The kernel rotated by 180 degrees in its two spatial axes: what turns correlation into convolution."""
    return w[..., ::-1, ::-1]


def convolve2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """True convolution (the signal-processing one) of x (N, C, H, W) with w (F, C, kh, kw): correlation with the
    kernel flipped. For N = C = F = 1, stride 1, padding 0 it equals scipy.signal.convolve2d(x, w, mode="valid").
    """
    return correlate2d(x, flip_kernel(w), b, stride, padding)


def convolve2d_backward(
    dy: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dw, dL/db) of `convolve2d`: the correlation's backward with the flipped kernel, whose weight
    gradient is flipped back, because d/dw of f(flip(w)) is flip(d/dw' f(w')) at w' = flip(w).
    """
    dx, dw_flipped, db = correlate2d_backward(dy, x, flip_kernel(w), stride, padding)
    return dx, flip_kernel(dw_flipped), db
