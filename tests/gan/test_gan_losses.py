"""GAN losses against values worked out by hand."""

import math

import pytest
import torch

from meddl.tasks.synthesis import losses

LN3 = math.log(3.0)  # sigmoid(ln 3) = 0.75


def test_discriminator_loss_at_equilibrium_is_log_4():
    zero = torch.zeros(4)
    assert losses.d_loss_ns(zero, zero).item() == pytest.approx(2 * math.log(2), abs=1e-6)


def test_discriminator_loss_by_hand():
    # D(x) = 0.75 on real, D(G(z)) = 0.25 on fake: -(log 0.75 + log(1 - 0.25)) = -2 log 0.75
    real, fake = torch.tensor([LN3]), torch.tensor([-LN3])
    assert losses.d_loss_ns(real, fake).item() == pytest.approx(-2 * math.log(0.75), abs=1e-6)
    # means over the batch: real logits ln3 and 0 -> -(log .75 + log .5)/2; fakes 0 -> -log .5
    expected = -(math.log(0.75) + math.log(0.5)) / 2 - math.log(0.5)
    assert losses.d_loss_ns(torch.tensor([LN3, 0.0]), torch.zeros(2)).item() == pytest.approx(expected, abs=1e-6)


def test_generator_loss_is_non_saturating():
    assert losses.g_loss_ns(torch.tensor([LN3])).item() == pytest.approx(-math.log(0.75), abs=1e-6)
    assert losses.g_loss_ns(torch.tensor([-LN3])).item() == pytest.approx(-math.log(0.25), abs=1e-6)
    # When D confidently rejects a fake (logit -10), -log D(G(z)) still has a gradient near -1, where the
    # saturating log(1 - D(G(z))) would give about -sigmoid(-10) = -4.5e-5.
    logit = torch.tensor([-10.0], requires_grad=True)
    losses.g_loss_ns(logit).backward()
    assert logit.grad.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-10.0)).item()), abs=1e-6)
    assert abs(logit.grad.item()) > 0.99


def test_wgan_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert losses.d_loss_wgan(real, fake).item() == pytest.approx(1.0 - 2.0)
    assert losses.g_loss_wgan(fake).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("norm, expected", [(1.0, 0.0), (2.0, 1.0), (3.0, 4.0)])
def test_gradient_penalty_of_a_linear_critic(norm, expected):
    # critic(x) = <w, x> has gradient w everywhere, so the penalty is (||w|| - 1)^2 whatever the interpolates
    w = torch.zeros(1, 2, 3, 3)
    w[0, 0, 0, 0] = norm
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    assert losses.gradient_penalty(critic, real, fake).item() == pytest.approx(expected, abs=1e-5)


def test_discriminator_accuracy():
    real_acc, fake_acc = losses.d_accuracy(torch.tensor([1.0, -1.0, 2.0, 3.0]), torch.tensor([-1.0, 1.0]))
    assert (real_acc, fake_acc) == (0.75, 0.5)


def test_mode_seeking_term_by_hand():
    # mean |G(z_a) - G(z_b)| = 0.5 and mean |z_a - z_b| = 1: ratio 0.5, term 1 / 0.5 = 2; more diverse pairs cost less
    term = losses.mode_seeking(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5), torch.zeros(2, 8),
                               torch.ones(2, 8))
    assert term.item() == pytest.approx(2.0, rel=1e-4)
    wider = losses.mode_seeking(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4), torch.zeros(2, 8), torch.ones(2, 8))
    assert wider < term
