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
    """Ranges of random changes; flips only where anatomy allows (never left-right for chest X-ray or CT).

    For volumes (N, C, D, H, W), `rotate_degrees` bounds the turn about each of the three axes, the horizontal and
    vertical flips mirror W and H, `depth_flip` mirrors D, and `axis_permutations` turns the volume by multiples of
    90 degrees (any order of its axes): right for shapes and cells, which have no up or left, and wrong for anatomy.
    """

    rotate_degrees: float = 10.0
    translate: float = 0.06
    scale: tuple[float, float] = (0.92, 1.08)
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness: float = 0.05
    contrast: float = 0.1
    depth_flip: bool = False
    axis_permutations: bool = False


POLICIES: dict[str, AugmentPolicy] = {
    "xray": AugmentPolicy(),
    "ct": AugmentPolicy(),
    "ultrasound": AugmentPolicy(horizontal_flip=True),
    "oct": AugmentPolicy(horizontal_flip=True),
    "fundus": AugmentPolicy(rotate_degrees=30.0, horizontal_flip=True, vertical_flip=True),
    "dermoscopy": AugmentPolicy(rotate_degrees=180.0, horizontal_flip=True, vertical_flip=True),
    "histology": AugmentPolicy(rotate_degrees=180.0, horizontal_flip=True, vertical_flip=True),
    "microscopy": AugmentPolicy(rotate_degrees=180.0, horizontal_flip=True, vertical_flip=True),
    # binary shape masks (MedMNIST 3D adrenal glands, vessel segments): any orientation, and no intensity to change
    "shape": AugmentPolicy(horizontal_flip=True, vertical_flip=True, depth_flip=True, axis_permutations=True,
                           brightness=0.0, contrast=0.0),
    "generic": AugmentPolicy(),
}


def policy_for(modality: str) -> AugmentPolicy:
    return POLICIES.get(modality, POLICIES["generic"])


def augment(images: torch.Tensor, policy: AugmentPolicy, generator: torch.Generator) -> torch.Tensor:
    """Randomly transform float images in [0, 1] of shape (N, C, H, W), or volumes (N, C, D, H, W); the result
    stays in [0, 1]."""
    if images.ndim == 5:
        return _augment_volumes(images, policy, generator)
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


def _augment_volumes(images: torch.Tensor, policy: AugmentPolicy, generator: torch.Generator) -> torch.Tensor:
    """`augment` for volumes: one 3D affine map per volume (a permutation of the axes where allowed, flips, a small
    turn about each axis, a scale and a shift), resampled trilinearly for the whole batch at once."""
    n = images.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    turn = torch.eye(3).repeat(n, 1, 1)
    for axis in range(3):
        angle = uniform(-policy.rotate_degrees, policy.rotate_degrees) * (math.pi / 180)
        turn = turn @ _rotation(angle, axis)
    # affine_grid's coordinates for a volume are (x, y, z) = (W, H, D)
    signs = torch.stack([_random_sign(n, flag, generator) for flag in
                         (policy.horizontal_flip, policy.vertical_flip, policy.depth_flip)], dim=1)
    matrix = torch.diag_embed(signs) @ turn / uniform(*policy.scale).view(n, 1, 1)
    if policy.axis_permutations:
        order = torch.rand(n, 3, generator=generator).argsort(dim=1)
        matrix = F.one_hot(order, 3).float() @ matrix
    shift = torch.stack([uniform(-policy.translate, policy.translate) for _ in range(3)], dim=1) * 2
    theta = torch.cat([matrix, shift[:, :, None]], dim=2).to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if policy.contrast == 0 and policy.brightness == 0:
        return out.clamp_(0, 1)
    contrast = uniform(1 - policy.contrast, 1 + policy.contrast).to(images.device).view(n, 1, 1, 1, 1)
    brightness = uniform(-policy.brightness, policy.brightness).to(images.device).view(n, 1, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3, 4), keepdim=True)
    return ((out - mean) * contrast + mean + brightness).clamp_(0, 1)


def _rotation(angle: torch.Tensor, axis: int) -> torch.Tensor:
    """(N, 3, 3) turns by `angle` (radians) about coordinate `axis`."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    first, second = [a for a in range(3) if a != axis]
    matrix = torch.eye(3).repeat(len(angle), 1, 1)
    matrix[:, first, first], matrix[:, first, second] = cos, -sin
    matrix[:, second, first], matrix[:, second, second] = sin, cos
    return matrix


def _random_sign(n: int, enabled: bool, generator: torch.Generator) -> torch.Tensor:
    if not enabled:
        return torch.ones(n)
    return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
