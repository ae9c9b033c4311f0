"""Input guards: notice when an image given to a trained model is not like the images it was trained on.

A model fed inputs in the wrong range or layout does not fail: it returns confident, identical answers for
everything. Each checkpoint therefore stores what its training images looked like (channels, size, pixel range,
normalisation, and the spread of per-image brightness and contrast), and `meddl predict` compares every input with
it: an RGB photo given to a grey-scale model, a 0-1 float image saved as 8-bit (every pixel 0 or 1), or an image far
darker, brighter, flatter or noisier than any training image gets a warning naming the file, or an error with
`--strict`; the server answers such an input with no label at all (it abstains).
"""

from __future__ import annotations

import numpy as np

from meddl.errors import DataError

Z_LIMIT = 5.0  # standard deviations from the training images' mean brightness/contrast before a warning


def roughness(images: np.ndarray) -> np.ndarray:
    """Mean absolute difference between neighbouring pixels of each image (N x H x W x C -> N): small for anatomy
    at any brightness, near 85 for uniform noise, whose brightness and contrast can look like an X-ray's."""
    pixels = images.astype(np.float32)
    across = np.abs(np.diff(pixels, axis=2)).mean(axis=(1, 2, 3))
    down = np.abs(np.diff(pixels, axis=1)).mean(axis=(1, 2, 3))
    return (across + down) / 2


def _spread(values: np.ndarray) -> dict:
    return {"mean": float(values.mean()), "sd": float(values.std()), "min": float(values.min()),
            "max": float(values.max())}


def input_statistics(images: np.ndarray) -> dict:
    """What the training images (uint8, N x H x W x C) looked like, as stored in the checkpoint."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    means, stds = flat.mean(axis=1), flat.std(axis=1)
    return {
        "channels": int(images.shape[3]),
        "size": [int(images.shape[1]), int(images.shape[2])],
        "dtype": "uint8",
        "range": [0, 255],
        "normalisation": "(pixels / 255 - 0.5) / 0.5",
        "brightness": _spread(means),
        "contrast": _spread(stds),
        "roughness": _spread(roughness(images)),
    }


def _grey_as_rgb(array: np.ndarray) -> bool:
    """An RGB file of a grey image (R = G = B, give or take JPEG's colour noise): grey, not the wrong modality."""
    pixels = array.astype(np.int16)
    return bool(np.abs(np.diff(pixels, axis=2)).mean() < 1.0)


def check_input(array: np.ndarray, stats: dict | None) -> list[str]:
    """Reasons an image (H x W x C, uint8, at the model's size) does not look like the training images; empty if
    it does."""
    if not stats:
        return []
    problems = []
    channels = stats["channels"]
    if array.shape[2] != channels and not (channels == 1 and _grey_as_rgb(array)):
        kinds = {1: "grey-scale", 3: "RGB"}
        problems.append(f"the image is {kinds.get(array.shape[2], f'{array.shape[2]}-channel')} but the model was "
                        f"trained on {kinds.get(channels, f'{channels}-channel')} images (converted; check it is the "
                        "right kind of image)")
    pixels = array.astype(np.float32)
    if pixels.max() == pixels.min():
        problems.append(f"every pixel is {pixels.max():.0f}: a blank image holds nothing to classify")
        return problems
    if pixels.max() <= 1 and stats["brightness"]["max"] > 2:
        problems.append("every pixel is 0 or 1: this looks like a 0-1 image saved as 8-bit, but the model expects "
                        "pixels from 0 to 255 (multiply by 255 before saving)")
        return problems
    measured = {"brightness": pixels.mean(), "contrast": pixels.std(), "roughness": roughness(array[None])[0]}
    for name, value in measured.items():
        reference = stats.get(name)  # checkpoints of meddl 0.1 hold no roughness
        if reference is None:
            continue
        spread = max(reference["sd"], 1.0)
        z = (value - reference["mean"]) / spread
        outside = value < reference["min"] - spread or value > reference["max"] + spread
        if abs(z) > Z_LIMIT and outside:
            problems.append(f"its {name} ({value:.0f}) is {abs(z):.0f} standard deviations from the training images' "
                            f"({reference['mean']:.0f} ± {reference['sd']:.0f}); check its intensity range and "
                            "modality")
    return problems


def enforce(file: str, problems: list[str], strict: bool) -> list[str]:
    """Raise the problems as one DataError under `strict`, else return them as warnings for `file`."""
    if problems and strict:
        raise DataError(f"{file}: " + "; ".join(problems) + " (--strict; leave it out to predict anyway)")
    return problems
