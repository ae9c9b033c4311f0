"""Batched, seeded data augmentation suited to each imaging modality.

Augmentation runs on a whole batch at once (one affine grid for the batch), on whatever device the batch is on, so
it costs little next to the model even at 28x28 where per-sample Python transforms would dominate. MONAI's
transforms work one sample at a time, which is why this small module is hand-written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class AugmentPolicy:
    """Ranges of random changes; flips only where anatomy allows (never left-right for chest X-ray or CT)."""

    rotate_degrees: float = 10.0
    translate: float = 0.06
    scale: tuple[float, float] = (0.92, 1.08)
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness: float = 0.05
    contrast: float = 0.1


POLICIES: dict[str, AugmentPolicy] = {
    "xray": AugmentPolicy(),
    "ct": AugmentPolicy(),
    "ultrasound": AugmentPolicy(horizontal_flip=True),
    "oct": AugmentPolicy(horizontal_flip=True),
    "fundus": AugmentPolicy(rotate_degrees=30.0, horizontal_flip=True, vertical_flip=True),
    "dermoscopy": AugmentPolicy(rotate_degrees=180.0, horizontal_flip=True, vertical_flip=True),
    "histology": AugmentPolicy(rotate_degrees=180.0, horizontal_flip=True, vertical_flip=True),
    "microscopy": AugmentPolicy(rotate_degrees=180.0, horizontal_flip=True, vertical_flip=True),
    "generic": AugmentPolicy(),
}


def policy_for(modality: str) -> AugmentPolicy:
    return POLICIES.get(modality, POLICIES["generic"])


def augment(images: torch.Tensor, policy: AugmentPolicy, generator: torch.Generator) -> torch.Tensor:
    """Randomly transform float images in [0, 1] of shape (N, C, H, W); the result stays in [0, 1]."""
    n = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(-policy.rotate_degrees, policy.rotate_degrees) * (math.pi / 180)
    scale = uniform(*policy.scale)
    flip_x = _random_sign(n, policy.horizontal_flip, generator)
    flip_y = _random_sign(n, policy.vertical_flip, generator)
    shift = torch.stack([uniform(-policy.translate, policy.translate) for _ in range(2)], dim=1) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip_x, -sin * flip_y, shift[:, 0]], 1), torch.stack([sin * flip_x, cos * flip_y, shift[:, 1]], 1)],
        dim=1,
    ).to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(1 - policy.contrast, 1 + policy.contrast).to(images.device).view(n, 1, 1, 1)
    brightness = uniform(-policy.brightness, policy.brightness).to(images.device).view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean + brightness).clamp_(0, 1)


def _random_sign(n: int, enabled: bool, generator: torch.Generator) -> torch.Tensor:
    if not enabled:
        return torch.ones(n)
    return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
