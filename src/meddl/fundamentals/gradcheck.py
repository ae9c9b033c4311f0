"""Central finite differences and the relative error used to check every backward pass in this package.

The central difference (f(x + h) - f(x - h)) / 2h has truncation error O(h^2), against O(h) for the one-sided
difference, and rounding error O(eps |f| / h). The two balance near h = eps^(1/3) (about 6e-6 in float64), so with
h = 1e-5 both are around 1e-10 relative for a well-scaled f: far below the 1e-6 tolerance the tests use, and still
below it where a gradient is a thousand times smaller than f (a fading RNN gradient, a saturating sigmoid). A kink
(ReLU at 0, a tie in max-pooling) within h of the point breaks the check, and so does a gradient that vanishes
altogether (a fully saturated tanh); tests draw inputs away from both rather than loosen the tolerance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f / d x by central differences, perturbing `x` in place one entry at a time (and restoring it).

    `f` takes no arguments and reads `x` through a closure, so any parameter of a larger computation can be checked
    without rewriting the computation as a function of that parameter.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)  # views: writes reach x and grad
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        f_plus = f()
        flat_x[i] = original - h
        f_minus = f()
        flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2.0 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a|| + ||b||, 1e-300): scale-free, 0 for equal arrays, and defined when both are zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))
