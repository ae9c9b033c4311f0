"""The gradient checker itself: right on a function with a known derivative, and able to detect a wrong one."""

import numpy as np

from meddl.fundamentals.gradcheck import numerical_gradient, relative_error


def test_central_differences_match_a_known_derivative_and_restore_the_input():
    x = np.random.default_rng(0).standard_normal((3, 4))
    before = x.copy()
    numeric = numerical_gradient(lambda: float(np.sum(np.sin(x) * x**2)), x)
    exact = np.cos(x) * x**2 + 2 * x * np.sin(x)
    assert relative_error(numeric, exact) < 1e-9
    np.testing.assert_array_equal(x, before)


def test_relative_error_is_scale_free_and_flags_a_wrong_gradient():
    a = np.array([1.0, -2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert np.isclose(relative_error(1e-8 * a, 1e-8 * a * (1 + 1e-3)), relative_error(a, a * (1 + 1e-3)), rtol=1e-9)
    assert relative_error(a, 2 * a) > 0.3  # e.g. a gradient off by a factor of 2
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
