"""GAN value function: V and its gradients for D and G (minimax and non-saturating) vs torch BCE + autograd and vs
finite differences; the optimal discriminator and the saturation that motivates the non-saturating loss."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fund_helpers import GRADCHECK_SETTINGS, assert_gradient, leaf, randn
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from meddl.fundamentals.gan import (
    Discriminator,
    Generator,
    gan_value,
    non_saturating_generator_gradient,
    non_saturating_generator_loss,
    optimal_discriminator,
    value_gradient_discriminator,
    value_gradient_generator,
)


@st.composite
def gan_problems(draw):
    """Real samples (M, d), noise (M', k), a logistic D and a linear G with random parameters."""
    m_real, m_fake = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    d, k = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    disc = Discriminator(w=randn(rng, d), c=float(rng.standard_normal()))
    gen = Generator(A=randn(rng, d, k), m=randn(rng, d))
    return disc, gen, randn(rng, m_real, d) + 1.0, randn(rng, m_fake, k)


@GRADCHECK_SETTINGS
@given(gan_problems())
def test_value_and_gradients_match_torch_bce_and_autograd(problem):
    disc, gen, x_real, z = problem
    tw, tc, tA, tm = leaf(disc.w), leaf(disc.c), leaf(gen.A), leaf(gen.m)
    fake = torch.from_numpy(z) @ tA.T + tm
    s_real, s_fake = torch.from_numpy(x_real) @ tw + tc, fake @ tw + tc
    # log D(x) = -BCE(D(x), 1) and log(1 - D(G(z))) = -BCE(D(G(z)), 0), averaged over each batch.
    value = -F.binary_cross_entropy_with_logits(s_real, torch.ones_like(s_real)) - F.binary_cross_entropy_with_logits(
        s_fake, torch.zeros_like(s_fake)
    )
    value.backward()
    np.testing.assert_allclose(gan_value(disc, gen, x_real, z), value.item(), rtol=1e-12)

    d_grad, g_grad = value_gradient_discriminator(disc, gen, x_real, z), value_gradient_generator(disc, gen, z)
    np.testing.assert_allclose(d_grad.w, tw.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(d_grad.c, tc.grad.item(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_grad.A, tA.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g_grad.m, tm.grad.numpy(), rtol=1e-10, atol=1e-14)

    tA.grad, tm.grad = None, None
    s_fake = (torch.from_numpy(z) @ tA.T + tm) @ tw + tc
    ns_loss = F.binary_cross_entropy_with_logits(s_fake, torch.ones_like(s_fake))  # -mean log D(G(z))
    ns_loss.backward()
    np.testing.assert_allclose(non_saturating_generator_loss(disc, gen, z), ns_loss.item(), rtol=1e-12)
    ns_grad = non_saturating_generator_gradient(disc, gen, z)
    np.testing.assert_allclose(ns_grad.A, tA.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ns_grad.m, tm.grad.numpy(), rtol=1e-10, atol=1e-14)


@GRADCHECK_SETTINGS
@given(gan_problems())
def test_gan_gradients_match_finite_differences(problem):
    disc, gen, x_real, z = problem
    c = np.array([disc.c])  # the scalar bias as an array that finite differences can perturb in place

    def value() -> float:
        return gan_value(Discriminator(w=disc.w, c=float(c[0])), gen, x_real, z)

    d_grad = value_gradient_discriminator(disc, gen, x_real, z)
    assert_gradient(value, disc.w, d_grad.w, "dV/dw")
    assert_gradient(value, c, np.array([d_grad.c]), "dV/dc")
    g_grad, ns_grad = value_gradient_generator(disc, gen, z), non_saturating_generator_gradient(disc, gen, z)
    for array, grad, name in ((gen.A, g_grad.A, "dV/dA"), (gen.m, g_grad.m, "dV/dm")):
        assert_gradient(lambda: gan_value(disc, gen, x_real, z), array, grad, name)
    for array, grad, name in ((gen.A, ns_grad.A, "dNS/dA"), (gen.m, ns_grad.m, "dNS/dm")):
        assert_gradient(lambda: non_saturating_generator_loss(disc, gen, z), array, grad, name)


def test_minimax_generator_gradient_saturates_where_the_non_saturating_one_does_not():
    rng = np.random.default_rng(0)
    disc = Discriminator(w=np.ones(3), c=-8.0)  # rejects every generated sample: D(G(z)) ~ 3e-4
    gen, z = Generator(A=0.1 * randn(rng, 3, 2), m=np.zeros(3)), randn(rng, 16, 2)
    minimax = np.linalg.norm(value_gradient_generator(disc, gen, z).m)
    non_saturating = np.linalg.norm(non_saturating_generator_gradient(disc, gen, z).m)
    assert non_saturating > 1000 * minimax


@GRADCHECK_SETTINGS
@given(k=st.integers(2, 6), seed=st.integers(0, 2**32 - 1))
def test_optimal_discriminator_maximises_v_and_gives_minus_log4_plus_2jsd(k, seed):
    rng = np.random.default_rng(seed)
    p_data, p_g = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))

    def value(d: np.ndarray) -> float:  # V(D, G) over a finite sample space
        return float(np.sum(p_data * np.log(d) + p_g * np.log(1.0 - d)))

    d_star = optimal_discriminator(p_data, p_g)
    jsd = jensenshannon(p_data, p_g) ** 2  # scipy returns the distance, sqrt(JSD), in nats
    np.testing.assert_allclose(value(d_star), -np.log(4.0) + 2.0 * jsd, rtol=1e-10, atol=1e-12)
    for _ in range(5):
        other = np.clip(d_star + 0.05 * rng.standard_normal(k), 1e-3, 1 - 1e-3)
        assert value(other) <= value(d_star) + 1e-12
    np.testing.assert_allclose(optimal_discriminator(p_data, p_data), 0.5)


def test_gradient_check_on_a_saturated_discriminator_is_limited_only_by_rounding():
    """D rejects every sample (D(G(z)) ~ 1e-5), so dV/dA is ~1e-7: central differences resolve it to ~1e-4
    relative, not 1e-6, and the check allows that rounding floor, yet still catches a gradient 1% off."""
    rng = np.random.default_rng(0)
    disc = Discriminator(w=np.array([1.0, -0.5, 0.8, 0.3]), c=-10.0)
    gen = Generator(A=randn(rng, 4, 3), m=randn(rng, 4))
    x_real, z = randn(rng, 3, 4) + 1.0, randn(rng, 4, 3)
    gradient = value_gradient_generator(disc, gen, z).A
    assert np.abs(gradient).max() < 1e-6

    def value() -> float:
        return gan_value(disc, gen, x_real, z)

    assert_gradient(value, gen.A, gradient, "dV/dA")
    with pytest.raises(AssertionError, match="dV/dA"):
        assert_gradient(value, gen.A, gradient * 1.01, "dV/dA")
