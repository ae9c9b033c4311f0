"""A dense (fully connected) layer y = f(W x + b) and its backward pass, for a batch of row vectors.

With x of shape (N, in) the layer computes z = x W^T + b and y = f(z). Given dL/dy, the chain rule gives
dL/dz = dL/dy * f'(z) (element-wise), then dL/dW = (dL/dz)^T x, dL/db = sum over the batch of dL/dz, and
dL/dx = (dL/dz) W. The batch sum in dW and db is why the gradient of a mean loss must carry the 1/N itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meddl.fundamentals.activations import activation


@dataclass(frozen=True)
class DenseCache:
    """What the backward pass needs from the forward pass: the input, the weights, the output and f's name."""

    x: np.ndarray
    W: np.ndarray
    y: np.ndarray
    activation: str


def dense_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, activation_name: str = "identity"
) -> tuple[np.ndarray, DenseCache]:
    """y = f(x W^T + b) for x (N, in), W (out, in), b (out,); returns y (N, out) and the cache for the backward."""
    f, _ = activation(activation_name)
    y = f(x @ W.T + b)
    return y, DenseCache(x=x, W=W, y=y, activation=activation_name)


def dense_backward(dy: np.ndarray, cache: DenseCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dW, dL/db) from dL/dy (N, out) by the chain rule through f and the affine map."""
    _, df = activation(cache.activation)
    dz = dy * df(cache.y)
    return dz @ cache.W, dz.T @ cache.x, dz.sum(axis=0)
