"""Element-wise activations f(z) and their derivatives f'(z), shared by the dense layer and the recurrent step.

Each derivative is written in terms of the activation's output y = f(z) where that is the cheap form (tanh, sigmoid),
because the forward pass has y already; ReLU's uses y > 0, which equals z > 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from meddl.errors import ConfigError


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), written through tanh so that large |z| neither overflows nor loses precision."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# name -> (f(z), f'(z) expressed through the output y = f(z))
ACTIVATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "identity": (lambda z: z, np.ones_like),
    "relu": (lambda z: np.maximum(z, 0.0), lambda y: (y > 0).astype(y.dtype)),
    "tanh": (np.tanh, lambda y: 1.0 - y**2),
    "sigmoid": (sigmoid, lambda y: y * (1.0 - y)),
}


def activation(name: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The pair (f, f' as a function of y = f(z)) for `name`; a ConfigError lists the names known."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation {name!r} is unknown; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]
