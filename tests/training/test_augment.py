"""Batched augmentation: shape and range kept, seeded, and anatomy-aware flips."""

from __future__ import annotations

import torch

from meddl.tasks.image.augment import AugmentPolicy, augment, policy_for


def _images() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(16, 1, 28, 28)


def test_shape_range_and_seed():
    images = _images()
    a = augment(images, policy_for("xray"), torch.Generator().manual_seed(3))
    b = augment(images, policy_for("xray"), torch.Generator().manual_seed(3))
    c = augment(images, policy_for("xray"), torch.Generator().manual_seed(4))
    assert a.shape == images.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, images)


def test_identity_policy_leaves_images_unchanged():
    none = AugmentPolicy(rotate_degrees=0, translate=0, scale=(1, 1), brightness=0, contrast=0)
    images = _images()
    assert torch.allclose(augment(images, none, torch.Generator().manual_seed(0)), images, atol=1e-5)


def test_only_modalities_without_handedness_are_flipped():
    assert not policy_for("xray").horizontal_flip and not policy_for("ct").horizontal_flip
    assert policy_for("histology").horizontal_flip and policy_for("microscopy").vertical_flip
    flip_only = AugmentPolicy(rotate_degrees=0, translate=0, scale=(1, 1), brightness=0, contrast=0,
                              horizontal_flip=True)
    images = _images()
    out = augment(images, flip_only, torch.Generator().manual_seed(0))
    flipped = [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, images)]
    kept = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
