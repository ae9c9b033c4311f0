"""Why a classifier decided as it did: Grad-CAM, Grad-CAM++ and occlusion heatmaps, and overlays to look at them.

The stable API (the CLI, the report and the HTTP server all use it):

- `explain_images(module, images_uint8_nhwc, method="gradcam", target=None)` -> float32 heatmaps (N, H, W) in
  [0, 1] at the model's input size;
- `overlay_png(image_uint8_hwc, heatmap, size=224)` -> PNG bytes of the heatmap over the image;
- `METHODS`, the method names.

Only `METHODS` is defined here; the rest loads torch and MONAI on first use so that `meddl --help` stays fast.
"""

from __future__ import annotations

METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "occlusion")

_LAZY = {
    "explain_images": "meddl.explain.heatmaps",
    "overlay_png": "meddl.explain.overlay",
    "Explanation": "meddl.explain.files",
    "explain_files": "meddl.explain.files",
}

__all__ = ["METHODS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'meddl.explain' has no attribute {name!r}")
