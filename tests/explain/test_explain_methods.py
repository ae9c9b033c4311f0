"""`explain_images`: the map each method returns, the class it explains, and what it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from meddl.errors import ConfigError, DataError
from meddl.explain import METHODS, explain_images
from meddl.models import list_models
from meddl.tasks.image import load_classifier
from meddl.tasks.image.module import ImageClassifier


def classifier(model: str, size: int = 28, task: str = "binary", labels=("no", "yes"), channels: int = 1):
    torch.manual_seed(0)
    return ImageClassifier(model=model, task=task, labels=list(labels), in_channels=channels, image_size=size).eval()


def noise(n: int, size: int = 28, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", ["fast-cnn", "resnet18-28", "seed-cnn"])
def test_each_method_gives_maps_in_unit_range_at_the_input_size(model, method):
    heat = explain_images(classifier(model), noise(2), method)
    assert heat.shape == (2, 28, 28) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1


@pytest.mark.parametrize("task, labels", [("multi-class", "abc"), ("multi-label", "abcd"), ("ordinal", "01234")])
def test_every_task_type_is_explained_for_each_class(task, labels):
    module = classifier("fast-cnn", task=task, labels=labels)
    for target in range(len(labels)):
        heat = explain_images(module, noise(2), "gradcam", target=target)
        assert heat.shape == (2, 28, 28) and 0 <= heat.min() and heat.max() <= 1


def test_images_of_another_size_and_channel_count_are_matched_to_the_model():
    heat = explain_images(classifier("fast-cnn"), noise(3, size=40, channels=3), "gradcam")
    assert heat.shape == (3, 28, 28)


def test_grad_cam_is_the_textbook_formula_for_each_image_and_its_own_class(marker_run):
    """Selvaraju et al.: ReLU(sum_k mean(dy_c/dA_k) A_k) for the predicted class c, upsampled bilinearly and scaled
    to a maximum of 1, computed by hand here for a batch whose images are predicted as different classes."""
    module = load_classifier(marker_run.checkpoint)
    images = np.concatenate([marker_run.test_images[marker_run.test_has_marker][:3],
                             marker_run.test_images[~marker_run.test_has_marker][:3]])
    x = module.normalise(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()))
    features = module.net.features(x).detach().requires_grad_(True)
    logits = module.net.head(features)
    predicted = logits.argmax(1)
    assert len(set(predicted.tolist())) == 2
    (gradients,) = torch.autograd.grad(logits.gather(1, predicted[:, None]).sum(), features)
    cam = F.relu((gradients.mean((2, 3), keepdim=True) * features).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(28, 28), mode="bilinear", align_corners=False)[:, 0].detach().numpy()
    expected = cam / cam.reshape(len(cam), -1).max(1)[:, None, None]
    np.testing.assert_allclose(explain_images(module, images, "gradcam"), expected, atol=1e-5)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_a_batch_gives_the_same_maps_as_one_image_at_a_time(method, marker_run):
    module = load_classifier(marker_run.checkpoint)
    images = marker_run.test_images[:4]
    one_by_one = np.concatenate([explain_images(module, images[i : i + 1], method) for i in range(len(images))])
    np.testing.assert_allclose(explain_images(module, images, method), one_by_one, atol=1e-5)


def test_the_callers_model_is_left_as_it_was():
    """The HTTP server explains one loaded model per request: no hooks may pile up and no weight may change."""
    module = classifier("seed-cnn")  # its Grad-CAM layer is an in-place ReLU, which MONAI switches off
    before = {key: value.clone() for key, value in module.state_dict().items()}
    inplace = [getattr(layer, "inplace", None) for layer in module.net.modules()]
    for method in ("gradcam", "gradcam++"):
        explain_images(module, noise(2), method)
    assert [getattr(layer, "inplace", None) for layer in module.net.modules()] == inplace
    for layer in module.net.modules():
        assert not layer._forward_hooks and not layer._backward_hooks, layer
    assert all(torch.equal(before[key], value) for key, value in module.state_dict().items())
    assert not module.training


def test_a_model_whose_weights_need_no_gradient_is_still_explained():
    module = classifier("fast-cnn").requires_grad_(False)
    with torch.no_grad():
        heat = explain_images(module, noise(2), "gradcam")
    assert heat.shape == (2, 28, 28)


@pytest.mark.parametrize("info", [m for m in list_models() if m.family == "cnn" and m.spatial_dims == 2],
                         ids=lambda info: info.name)
def test_every_registered_model_names_a_spatial_grad_cam_layer(info):
    """The registry's `cam_layer` exists on a real instance and still has a spatial extent at the smallest size
    the model is meant for (a 1x1 map would paint the whole image one colour)."""
    size = 28 if info.input_size == "any" else int(info.input_size.split("-")[0])
    module = classifier(info.name, size=size)
    layer = dict(module.net.named_modules())[info.cam_layer]
    shapes = []
    handle = layer.register_forward_hook(lambda _module, _inputs, output: shapes.append(output.shape))
    module.net(torch.zeros(1, 1, size, size))
    handle.remove()
    assert len(shapes) == 1 and len(shapes[0]) == 4 and min(shapes[0][2:]) >= 2, shapes
    assert explain_images(module, noise(1, size=size), "gradcam").shape == (1, size, size)


def test_wrong_inputs_raise_errors_that_say_what_was_expected():
    module = classifier("fast-cnn")
    with pytest.raises(ConfigError, match="unknown explanation method 'saliency'.*gradcam, gradcam\\+\\+, occlusion"):
        explain_images(module, noise(1), "saliency")
    with pytest.raises(ConfigError, match="target class 2 is out of range.*2 classes"):
        explain_images(module, noise(1), target=2)
    with pytest.raises(DataError, match="uint8 array \\(N, H, W, C\\).*float64 of shape \\(1, 28, 28\\)"):
        explain_images(module, np.zeros((1, 28, 28)))
