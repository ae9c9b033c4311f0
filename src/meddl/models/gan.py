"""DCGAN generators and discriminators (unconditional and class-conditional) for 28x28 and 64x64 images.

The generator maps a latent vector (joined with a learned label embedding when class-conditional) to an image in
[-1, 1]: a linear projection to a small feature map, transposed convolutions with batch-norm and ReLU that double
the side each time (7->14->28, or 4->8->16->32->64), and a 3x3 convolution with tanh. The discriminator mirrors it
with strided convolutions and LeakyReLU(0.2); it returns one logit per image. Conditioning in the discriminator is
either a projection (Miyato & Koyama 2018: logit + <embed(y), features>) or an auxiliary classifier head (AC-GAN,
Odena et al. 2017), whose class logits the GAN module trains with cross-entropy.

Registered as "dcgan-g" and "dcgan-d" (family "gan"): `in_channels` is the image's channel count and `num_classes`
the number of classes (0 = unconditional).
"""

from __future__ import annotations

import torch
from torch import nn

from meddl.models.registry import register_model

START_SIDE = {28: 7, 64: 4}  # side of the first feature map; each stage doubles it
CONDITIONINGS = ("projection", "acgan")


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: weights N(0, 0.02), batch-norm scales N(1, 0.02). It also keeps the
    projection term <embed(y), features> small at the start, where N(0, 1) embeddings give logits in the tens."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            weight = getattr(layer, "parametrizations", None)
            target = layer.parametrizations.weight.original if weight is not None else layer.weight
            nn.init.normal_(target, 0.0, 0.02)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def _stages(image_size: int) -> int:
    if image_size not in START_SIDE:
        raise ValueError(f"DCGAN supports image_size 28 or 64, got {image_size}")
    return {28: 2, 64: 4}[image_size]


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] -> images (N, C, S, S) in [-1, 1]."""

    def __init__(self, channels: int, n_classes: int = 0, image_size: int = 28, latent_dim: int = 100,
                 width: int = 64):
        super().__init__()
        stages = _stages(image_size)
        self.latent_dim, self.n_classes, self.image_size = latent_dim, n_classes, image_size
        self.embed = nn.Embedding(n_classes, latent_dim) if n_classes else None
        first = width * 2 ** stages
        side = START_SIDE[image_size]
        self.project = nn.Sequential(
            nn.Linear(latent_dim * (2 if n_classes else 1), first * side * side, bias=False),
            nn.Unflatten(1, (first, side, side)),
            nn.BatchNorm2d(first),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        for stage in range(stages):
            c_in, c_out = first // 2 ** stage, first // 2 ** (stage + 1)
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.Conv2d(width, channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        embedding = self.embed.weight.detach().clone() if self.embed is not None else None
        dcgan_init(self)
        if embedding is not None:  # the label embedding plays the part of a second latent: keep it N(0, 1)
            self.embed.weight.data.copy_(embedding)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.body(self.project(z))


class DCGANDiscriminator(nn.Module):
    """images (N, C, S, S) [+ labels (N,)] -> logits (N,); with `conditioning="acgan"` also class logits (N, K).

    Spectral norm bounds each layer's Lipschitz constant, which steadies the non-saturating game; batch-norm is
    the DCGAN original. WGAN-GP needs neither: its gradient penalty is computed per image, and batch-norm would
    couple the images of a batch (the GAN module builds the critic without both for that loss).
    """

    def __init__(self, channels: int, n_classes: int = 0, image_size: int = 28, width: int = 64,
                 spectral_norm: bool = True, batch_norm: bool = False, conditioning: str = "projection"):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        stages = _stages(image_size)
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda module: module)
        layers: list[nn.Module] = []
        c_in = channels
        for stage in range(stages):
            c_out = width * 2 ** stage
            layers.append(wrap(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not batch_norm)))
            if batch_norm and stage > 0:  # DCGAN: no batch-norm on the first layer
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        side = START_SIDE[image_size]
        self.features = nn.Sequential(*layers, nn.Flatten())
        n_features = c_in * side * side
        self.n_classes, self.conditioning = n_classes, conditioning
        self.head = wrap(nn.Linear(n_features, 1))
        self.embed = wrap(nn.Embedding(n_classes, n_features)) if n_classes and conditioning == "projection" else None
        self.classifier = nn.Linear(n_features, n_classes) if n_classes and conditioning == "acgan" else None
        dcgan_init(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        features = self.features(images)
        logits = self.head(features).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is class-conditional (projection): pass labels")
            logits = logits + (self.embed(labels) * features).sum(dim=1)
        if self.classifier is not None:
            return logits, self.classifier(features)
        return logits


@register_model("dcgan-g", "gan", "DCGAN generator (transposed convs, batch-norm, ReLU, tanh); "
                "class-conditional via a label embedding", "28, 64")
def dcgan_generator(in_channels: int, num_classes: int = 0, image_size: int = 28, latent_dim: int = 100,
                    width: int = 64) -> nn.Module:
    return DCGANGenerator(in_channels, num_classes, image_size, latent_dim, width)


@register_model("dcgan-d", "gan", "DCGAN discriminator (strided convs, LeakyReLU, optional spectral norm); "
                "projection or AC-GAN conditioning", "28, 64")
def dcgan_discriminator(in_channels: int, num_classes: int = 0, image_size: int = 28, width: int = 64,
                        spectral_norm: bool = True, batch_norm: bool = False,
                        conditioning: str = "projection") -> nn.Module:
    return DCGANDiscriminator(in_channels, num_classes, image_size, width, spectral_norm, batch_norm, conditioning)
