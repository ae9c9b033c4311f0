"""Helpers for the fundamentals tests: Hypothesis settings, random arrays, and the gradient-check assertion."""

from collections.abc import Callable

import numpy as np
import torch
from hypothesis import HealthCheck, settings

from meddl.fundamentals.gradcheck import numerical_gradient, relative_error

# Few, small examples: each one runs finite differences over every parameter. No deadline: the first example pays
# for torch's lazy initialisation.
GRADCHECK_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOLERANCE = 1e-6  # relative error vs central finite differences, float64
FD_STEP = 1e-5  # finite-difference step


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def assert_gradient(loss: Callable[[], float], x: np.ndarray, analytic: np.ndarray, name: str) -> None:
    """The analytic gradient agrees with central differences to relative error < 1e-6.

    Where the true gradient is exactly zero (e.g. a padding-only region), a relative error is meaningless (0 / 0),
    so there the finite differences must be zero to rounding instead.
    """
    numeric = numerical_gradient(loss, x, h=FD_STEP)
    assert numeric.shape == analytic.shape, name
    if not np.any(analytic):
        assert np.abs(numeric).max() < 1e-8, f"{name}: analytic gradient is 0, finite differences are not"
        return
    # A central difference of a float64 function carries a rounding error of about eps * |f| / h per entry, whatever
    # the gradient: where the gradient is tiny (a saturated sigmoid), that floor, not the analytic gradient, sets the
    # relative error, so differences below it are allowed.
    rounding_floor = 10 * np.finfo(np.float64).eps * max(abs(loss()), 1.0) / FD_STEP * np.sqrt(x.size)
    difference = float(np.linalg.norm(numeric - analytic))
    error = relative_error(numeric, analytic)
    assert error < TOLERANCE or difference < rounding_floor, (
        f"{name}: relative error {error:.2e} vs finite differences (absolute {difference:.1e}, rounding floor "
        f"{rounding_floor:.1e})")


def leaf(array: np.ndarray) -> torch.Tensor:
    """A float64 torch leaf holding a copy of `array`, with gradients on."""
    return torch.tensor(np.array(array, dtype=np.float64), requires_grad=True)


def assert_matches_torch(ours: np.ndarray, theirs: torch.Tensor, name: str) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
