"""Test-time augmentation: the mean prediction over a fixed set of views of each image, chosen from what the
modality's training augmentation allows (`meddl.tasks.image.augment.POLICIES`).

- Rotation-free images (histology, microscopy, dermoscopy: any orientation): the 8 symmetries of the square.
- Images that may be flipped but not turned (fundus, ultrasound, OCT): the allowed flips.
- Everything else (chest X-ray, CT: anatomy fixes left and right): one-pixel shifts up, down, left and right.

The views are a fixed list, not random draws, so a prediction repeats exactly on every machine and the ONNX
export computes the same thing (flips, 90-degree turns and edge-padded shifts are plain ONNX operators).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from meddl.models.ensemble import mean_probability_logits
from meddl.tasks.image.augment import AugmentPolicy


@dataclass(frozen=True)
class View:
    """Turn by `quarter_turns` x 90 degrees, then mirror left-right if `mirror`, then shift by (dy, dx) pixels."""

    quarter_turns: int = 0
    mirror: bool = False
    vertical_mirror: bool = False
    dy: int = 0
    dx: int = 0

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        out = images
        if self.quarter_turns:
            out = torch.rot90(out, self.quarter_turns, dims=(2, 3))
        if self.mirror:
            out = torch.flip(out, dims=(3,))
        if self.vertical_mirror:
            out = torch.flip(out, dims=(2,))
        if self.dy or self.dx:
            height, width = out.shape[2], out.shape[3]
            padded = F.pad(out, (1, 1, 1, 1), mode="replicate")
            out = padded[:, :, 1 - self.dy : 1 - self.dy + height, 1 - self.dx : 1 - self.dx + width]
        return out


def views_for(policy: AugmentPolicy, square: bool = True) -> tuple[View, ...]:
    """The views of a modality (see the module docstring); the identity always comes first."""
    if policy.rotate_degrees >= 90 and policy.horizontal_flip and policy.vertical_flip and square:
        return tuple(View(turns, mirror) for mirror in (False, True) for turns in range(4))
    flips = [View()]
    if policy.horizontal_flip:
        flips.append(View(mirror=True))
    if policy.vertical_flip:
        flips.append(View(vertical_mirror=True))
    if policy.horizontal_flip and policy.vertical_flip:
        flips.append(View(mirror=True, vertical_mirror=True))
    if len(flips) > 1:
        return tuple(flips)
    return (View(), View(dy=-1), View(dy=1), View(dx=-1), View(dx=1))


class ViewAverage(nn.Module):
    """`wrapped` applied to each view of the images; the output is the logit of the views' mean probability."""

    def __init__(self, wrapped: nn.Module, views: tuple[View, ...], head: str):
        super().__init__()
        self.wrapped = wrapped
        self.views = tuple(views)
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack([self.wrapped(view.apply(images)) for view in self.views])
        return mean_probability_logits(stacked, self.head)
