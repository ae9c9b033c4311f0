"""Explaining leaves nothing behind: the network copy a Grad-CAM pass makes is freed, so a server that explains a
model for every request does not grow (before the fix each call kept one network alive, unseen by gc)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from meddl.explain import explain_images
from meddl.tasks.image.module import ImageClassifier


def _live_modules() -> int:
    gc.collect()
    return sum(isinstance(obj, torch.nn.Module) for obj in gc.get_objects())


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_repeated_grad_cam_keeps_no_network_alive(method):
    module = ImageClassifier(model="fast-cnn", task="binary", labels=["a", "b"], in_channels=1, image_size=28).eval()
    image = np.random.default_rng(0).integers(0, 255, (1, 28, 28, 1), dtype=np.uint8)
    explain_images(module, image, method)
    before = _live_modules()
    for _ in range(10):
        explain_images(module, image, method)
    assert _live_modules() == before
