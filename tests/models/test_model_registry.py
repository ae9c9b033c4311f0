"""The model registry: every model builds for the dataset's channels and classes and returns logits."""

from __future__ import annotations

import pytest
import torch

from meddl.errors import ConfigError
from meddl.models import create, list_models

SIZES = {"resnet18": 64, "resnet50": 64, "densenet121": 64, "efficientnet-b0": 64}


@pytest.mark.parametrize("info", [m for m in list_models() if m.family == "cnn"], ids=lambda info: info.name)
@pytest.mark.parametrize("channels, classes", [(1, 2), (3, 8)])
def test_every_model_follows_channels_and_classes(info, channels, classes):
    """Images (N, C, H, W) for 2D models, volumes (N, C, D, H, W) at their smallest size for 3D ones."""
    size = int(info.input_size.split("-")[0]) if info.spatial_dims == 3 else SIZES.get(info.name, 28)
    model = create(info.name, in_channels=channels, num_classes=classes, image_size=size).eval()
    with torch.no_grad():
        output = model(torch.randn(2, channels, *(size,) * info.spatial_dims))
    assert output.shape == (2, classes)


def test_required_architectures_are_registered():
    names = {m.name for m in list_models()}
    assert {"seed-cnn", "fast-cnn", "resnet18-28", "resnet50-28", "resnet18", "resnet50"} <= names
    assert names & {"densenet121", "efficientnet-b0"}


def test_seed_cnn_is_the_articles_architecture():
    model = create("seed-cnn", in_channels=1, num_classes=2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    dense = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [32, 64, 128]
    assert [d.out_features for d in dense] == [1024, 2]


def test_resnet_28_variant_has_a_small_stem_and_no_max_pool():
    small, standard = create("resnet18-28", 1, 2), create("resnet18", 1, 2)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert standard.conv1.kernel_size == (7, 7) and standard.conv1.stride == (2, 2)
    assert small.no_max_pool and not standard.no_max_pool  # MONAI keeps the module but skips it in forward


def test_unknown_model_names_the_choices():
    with pytest.raises(ConfigError, match="unknown model 'vgg99'.*fast-cnn"):
        create("vgg99", 1, 2)
