"""`overlay_png`: the heatmap over the image, enlarged, with the image untouched where there is no evidence."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from meddl.errors import DataError
from meddl.explain import overlay_png


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_the_overlay_is_enlarged_and_coloured_only_where_the_heat_is():
    image = np.full((28, 28, 1), 100, dtype=np.uint8)
    heat = np.zeros((28, 28), dtype=np.float32)
    heat[:14] = 1.0
    pixels = decode(overlay_png(image, heat))
    assert pixels.shape == (224, 224, 3)
    assert (pixels[200:] == 100).all()  # no evidence: the grey image shows as it is
    hot = pixels[:80].reshape(-1, 3).astype(int)
    assert (np.abs(hot - 100).max(axis=1) > 40).all()  # evidence: clearly coloured


def test_the_heatmap_is_stretched_over_an_image_of_another_shape_and_size():
    image = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    assert decode(overlay_png(image, np.ones((28, 28)), size=150)).shape == (150, 100, 3)
    assert decode(overlay_png(image[..., 0], np.zeros((7, 7)))).shape == (224, 149, 3)


def test_wrong_shapes_are_refused_with_what_was_expected():
    with pytest.raises(DataError, match="heatmap must be 2-D"):
        overlay_png(np.zeros((28, 28, 1), dtype=np.uint8), np.zeros((1, 28, 28)))
    with pytest.raises(DataError, match="image must be uint8 \\(H, W, C\\).*float64"):
        overlay_png(np.zeros((28, 28, 1)), np.zeros((28, 28)))
