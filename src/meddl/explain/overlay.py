"""A heatmap drawn over its image, as PNG bytes: what a reader of a report or a web page actually looks at.

The colour's opacity follows the heat, so places without evidence show the image untouched and the hot spots stand
out, instead of a uniform colour wash over everything. Small images are enlarged with nearest-neighbour sampling
(the pixels the model saw stay visible); the heatmap is enlarged smoothly.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from meddl.errors import DataError

MAX_ALPHA = 0.5  # opacity of the colour where the heat is 1: the image stays readable even under a diffuse map
COLOUR_MAP = "turbo"  # jet's hues, the Grad-CAM convention, with even brightness steps


@functools.cache
def _colours() -> np.ndarray:
    """The colour map as a (256, 3) float table."""
    from matplotlib import colormaps

    return colormaps[COLOUR_MAP](np.linspace(0, 1, 256))[:, :3].astype(np.float32)


def overlay_png(image_uint8_hwc: np.ndarray, heatmap: np.ndarray, size: int = 224) -> bytes:
    """PNG of `heatmap` (H', W') in [0, 1] over `image_uint8_hwc` (H, W, C), C = 1 or 3, longer side `size` px.

    The heatmap is stretched to the image, so it may come at the model's input size while the image is the
    original file's. Example: ``Path("why.png").write_bytes(overlay_png(image, explain_images(m, batch)[0]))``.
    """
    image, heat = _checked(image_uint8_hwc, heatmap)
    height, width = image.shape[:2]
    scale = size / max(height, width)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    rgb = image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    base = np.asarray(Image.fromarray(rgb).resize(shape, resample), dtype=np.float32)
    heat = np.asarray(Image.fromarray(heat).resize(shape, Image.Resampling.BILINEAR)).clip(0, 1)
    colour = _colours()[np.rint(heat * 255).astype(np.uint8)] * 255
    alpha = (MAX_ALPHA * heat)[..., None]
    blended = np.rint(base * (1 - alpha) + colour * alpha).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(blended).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _checked(image: np.ndarray, heatmap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
        raise DataError(f"image must be uint8 (H, W, C) with C = 1 or 3, got {image.dtype} of shape {image.shape}")
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise DataError(f"heatmap must be 2-D (H, W), got shape {heat.shape}")
    return image, np.nan_to_num(heat, nan=0.0).clip(0, 1)
