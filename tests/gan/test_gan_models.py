"""DCGAN generator and discriminator: shapes for each size, channel count and conditioning; registry entries."""

import pytest
import torch

from meddl.models import create, list_models
from meddl.models.registry import model_info


@pytest.mark.parametrize("size", [28, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("classes", [0, 8])
def test_generator_and_discriminator_shapes(size, channels, classes):
    g = create("dcgan-g", channels, classes, image_size=size, latent_dim=16, width=8)
    d = create("dcgan-d", channels, classes, image_size=size, width=8)
    labels = torch.randint(0, classes, (3,)) if classes else None
    images = g(torch.randn(3, 16), labels)
    assert images.shape == (3, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh
    assert d(images, labels).shape == (3,)


def test_acgan_discriminator_returns_class_logits():
    d = create("dcgan-d", 3, 8, image_size=28, width=8, conditioning="acgan")
    logits, classes = d(torch.randn(2, 3, 28, 28))
    assert logits.shape == (2,) and classes.shape == (2, 8)


def test_projection_depends_on_the_label():
    torch.manual_seed(0)
    d = create("dcgan-d", 1, 2, image_size=28, width=8).eval()
    x = torch.randn(1, 1, 28, 28).repeat(2, 1, 1, 1)
    out = d(x, torch.tensor([0, 1]))
    assert out[0] != out[1]


def test_generator_depends_on_the_label_and_the_latent():
    torch.manual_seed(0)
    g = create("dcgan-g", 1, 2, image_size=28, latent_dim=16, width=8).eval()
    z = torch.randn(1, 16).repeat(2, 1)
    a = g(z, torch.tensor([0, 1]))
    assert not torch.allclose(a[0], a[1])
    b = g(torch.randn(2, 16), torch.tensor([0, 0]))
    assert not torch.allclose(b[0], b[1])


def test_spectral_norm_is_optional():
    with_sn = create("dcgan-d", 1, 0, image_size=28, width=8, spectral_norm=True)
    without = create("dcgan-d", 1, 0, image_size=28, width=8, spectral_norm=False, batch_norm=True)
    assert any("parametrizations" in name for name, _ in with_sn.named_modules())
    assert not any("parametrizations" in name for name, _ in without.named_modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())


def test_registered_in_the_gan_family():
    assert {"dcgan-g", "dcgan-d"} <= {m.name for m in list_models() if m.family == "gan"}
    assert model_info("dcgan-g").family == "gan"


def test_unsupported_size_is_refused():
    with pytest.raises(ValueError, match="28 or 64"):
        create("dcgan-g", 1, 0, image_size=32)
