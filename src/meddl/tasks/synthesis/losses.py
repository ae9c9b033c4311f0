"""GAN objectives as pure functions of the discriminator's outputs.

The non-saturating game (Goodfellow et al. 2014): D maximises E[log D(x)] + E[log(1 - D(G(z)))], written as binary
cross-entropy on logits (real -> 1, fake -> 0); G minimises -E[log D(G(z))] instead of E[log(1 - D(G(z)))], whose
gradient vanishes exactly when D confidently rejects the fakes, early in training. WGAN-GP (Gulrajani et al.
2017): the critic minimises E[D(fake)] - E[D(real)] + lambda * E[(||grad D(x_hat)||_2 - 1)^2] on random
interpolates x_hat, and G minimises -E[D(G(z))].
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LOSSES = ("ns", "wgan-gp")
GP_WEIGHT = 10.0


def d_loss_ns(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-(E[log sigmoid(real)] + E[log(1 - sigmoid(fake))]): the negated objective D maximises."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def g_loss_ns(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -E[log sigmoid(D(G(z)))]."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def d_loss_wgan(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss without the penalty: E[D(fake)] - E[D(real)] (minus the Wasserstein estimate)."""
    return fake_scores.mean() - real_scores.mean()


def g_loss_wgan(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """E[(||grad critic(x_hat)||_2 - 1)^2] on x_hat = eps * real + (1 - eps) * fake, eps ~ U(0, 1) per image."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator, dtype=real.dtype)
    mixed = (eps.to(real.device) * real + (1 - eps.to(real.device)) * fake).requires_grad_(True)
    scores = critic(mixed)
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def mode_seeking(fake_a: torch.Tensor, fake_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor,
                 eps: float = 1e-5) -> torch.Tensor:
    """Mode-seeking term (Mao et al. 2019) for G to minimise: 1 / (mean|G(z_a) - G(z_b)| / mean|z_a - z_b| + eps),
    for pairs with the same label. It keeps a conditional G from ignoring z and drawing one image per class."""
    ratio = (fake_a - fake_b).abs().mean() / (z_a - z_b).abs().mean()
    return 1.0 / (ratio + eps)


def d_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[float, float]:
    """Share of real images D calls real (logit > 0) and share of fakes it calls fake: its error on each side."""
    return float((real_logits > 0).float().mean()), float((fake_logits < 0).float().mean())
