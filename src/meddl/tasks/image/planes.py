"""How a report shows a volume: its three orthogonal planes side by side, axial | coronal | sagittal, as one flat
image that the report's grids and the Grad-CAM overlays draw like any other.

Intensity volumes (CT, MRI, microscopy) are cut through their centre, where MedMNIST and most crops put the
finding. Binary shape masks are projected instead (maximum along each axis): a slice can miss a thin vessel or the
tip of a gland, a projection shows the whole shape. A heatmap is shown the same way as its volume, so the overlay
lines up.
"""

from __future__ import annotations

import numpy as np

PROJECTED_MODALITIES = ("shape",)


def plane_view(volume: np.ndarray, project: bool = False) -> np.ndarray:
    """The planes of one volume (D, H, W[, C]) as one image (S, 3S[, C]) with S = max(D, H, W): axial (H, W),
    coronal (D, W) and sagittal (D, H), each padded with zeros to S x S. `project`: maximum projections rather
    than central slices."""
    volume = np.asarray(volume)
    if volume.ndim not in (3, 4):
        raise ValueError(f"a volume is (D, H, W[, C]), got shape {volume.shape}")
    planes = [volume.max(axis=axis) if project else np.take(volume, volume.shape[axis] // 2, axis=axis)
              for axis in range(3)]
    side = max(volume.shape[:3])
    padded = []
    for plane in planes:
        canvas = np.zeros((side, side, *plane.shape[2:]), dtype=plane.dtype)
        canvas[: plane.shape[0], : plane.shape[1]] = plane
        padded.append(canvas)
    return np.concatenate(padded, axis=1)


def plane_views(volumes: np.ndarray, modality: str = "generic") -> np.ndarray:
    """`plane_view` of each volume (N, D, H, W[, C]), projected for the modalities of binary shapes."""
    if not len(volumes):
        side = max(volumes.shape[1:4])
        return np.zeros((0, side, 3 * side, *volumes.shape[4:]), volumes.dtype)
    return np.stack([plane_view(volume, projects(modality)) for volume in volumes])


def projects(modality: str) -> bool:
    """Whether volumes of `modality` are shown as projections rather than central slices."""
    return modality in PROJECTED_MODALITIES
