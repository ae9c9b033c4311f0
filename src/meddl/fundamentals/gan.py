"""The GAN value function V(D, G) for a logistic discriminator and a linear generator, with its gradients.

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],     D(x) = sigmoid(w . x + c),     G(z) = A z + m

D ascends V (it is the log-likelihood of telling real from generated samples); G descends it: min_G max_D V.
Expectations are batch means. With s = w . x + c, d/ds log sigmoid(s) = 1 - sigmoid(s) and
d/ds log(1 - sigmoid(s)) = -sigmoid(s), which gives every gradient below by the chain rule.

Optimal discriminator: for a fixed G, maximising p_data(x) log D + p_g(x) log(1 - D) pointwise gives
D*(x) = p_data(x) / (p_data(x) + p_g(x)), and then V(D*, G) = -log 4 + 2 JSD(p_data || p_g): G minimises the
Jensen-Shannon divergence, reaching -log 4 exactly when p_g = p_data (where D* = 1/2 everywhere).

Non-saturating generator loss: early on D rejects generated samples easily, D(G(z)) ~ 0, and the minimax gradient
dV/dG(z) = -D(G(z)) w vanishes with it: log(1 - D) is flat there. Goodfellow et al. (2014) instead let G minimise
-E_z[log D(G(z))], which has the same fixed point but gradient -(1 - D(G(z))) w: largest exactly when G is worst.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meddl.fundamentals.activations import sigmoid


@dataclass(frozen=True)
class Discriminator:
    """D(x) = sigmoid(x w + c) for rows x (M, d): w (d,), c a scalar. Also holds a gradient of the same form."""

    w: np.ndarray
    c: float


@dataclass(frozen=True)
class Generator:
    """G(z) = z A^T + m for rows z (M, k): A (d, k), m (d,). Also holds a gradient of the same form."""

    A: np.ndarray
    m: np.ndarray


def discriminate(d: Discriminator, x: np.ndarray) -> np.ndarray:
    """D(x): the probability (M,) that each row of x is a real sample."""
    return sigmoid(x @ d.w + d.c)


def generate(g: Generator, z: np.ndarray) -> np.ndarray:
    """G(z): one generated sample (M, d) per row of noise z (M, k)."""
    return z @ g.A.T + g.m


def gan_value(d: Discriminator, g: Generator, x_real: np.ndarray, z: np.ndarray) -> float:
    """V(D, G) = mean log D(x_real) + mean log(1 - D(G(z))), with log sigmoid computed stably via logaddexp."""
    s_real, s_fake = x_real @ d.w + d.c, generate(g, z) @ d.w + d.c
    return float(-np.logaddexp(0.0, -s_real).mean() - np.logaddexp(0.0, s_fake).mean())


def value_gradient_discriminator(d: Discriminator, g: Generator, x_real: np.ndarray, z: np.ndarray) -> Discriminator:
    """dV/d(w, c) = mean (1 - D(x)) (x, 1) - mean D(G(z)) (G(z), 1): the direction D ascends."""
    fake = generate(g, z)
    d_real, d_fake = discriminate(d, x_real), discriminate(d, fake)
    dw = ((1.0 - d_real) @ x_real) / len(x_real) - (d_fake @ fake) / len(fake)
    return Discriminator(w=dw, c=float((1.0 - d_real).mean() - d_fake.mean()))


def value_gradient_generator(d: Discriminator, g: Generator, z: np.ndarray) -> Generator:
    """dV/d(A, m) through dV/dG(z) = -D(G(z)) w / M: the direction G descends (the real-data term has no G)."""
    d_fake = discriminate(d, generate(g, z))
    return _generator_backward(-np.outer(d_fake, d.w) / len(z), z)


def non_saturating_generator_loss(d: Discriminator, g: Generator, z: np.ndarray) -> float:
    """-mean log D(G(z)): the generator loss used in practice instead of minimising V (see the module docstring)."""
    return float(np.logaddexp(0.0, -(generate(g, z) @ d.w + d.c)).mean())


def non_saturating_generator_gradient(d: Discriminator, g: Generator, z: np.ndarray) -> Generator:
    """d/d(A, m) of -mean log D(G(z)), through d/dG(z) = -(1 - D(G(z))) w / M."""
    d_fake = discriminate(d, generate(g, z))
    return _generator_backward(-np.outer(1.0 - d_fake, d.w) / len(z), z)


def _generator_backward(d_fake_samples: np.ndarray, z: np.ndarray) -> Generator:
    """Chain rule through G(z) = z A^T + m: from dL/dG(z) (M, d) to dL/dA = dL/dG^T z and dL/dm = sum_M dL/dG."""
    return Generator(A=d_fake_samples.T @ z, m=d_fake_samples.sum(axis=0))


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), the best D for a fixed G, from the two densities at the same points."""
    return p_data / (p_data + p_g)
