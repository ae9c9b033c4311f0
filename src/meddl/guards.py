"""Input guards: notice when an image given to a trained model is not like the images it was trained on.

A model fed inputs in the wrong range or layout does not fail: it returns confident, identical answers for
everything. Each checkpoint therefore stores what its training images looked like (channels, size, pixel range,
normalisation, and the spread of per-image brightness and contrast), and `meddl predict` compares every input with
it: an RGB photo given to a grey-scale model, a 0-1 float image saved as 8-bit (every pixel 0 or 1), or an image far
darker, brighter or flatter than any training image gets a warning naming the file, or an error with `--strict`.
"""

from __future__ import annotations

import numpy as np

from meddl.errors import DataError

Z_LIMIT = 5.0  # standard deviations from the training images' mean brightness/contrast before a warning


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
        "brightness": {"mean": float(means.mean()), "sd": float(means.std()), "min": float(means.min()),
                       "max": float(means.max())},
        "contrast": {"mean": float(stds.mean()), "sd": float(stds.std()), "min": float(stds.min()),
                     "max": float(stds.max())},
    }


def check_input(array: np.ndarray, stats: dict | None) -> list[str]:
    """Reasons an image (as decoded: H x W x C, uint8) does not look like the training images; empty if it does."""
    if not stats:
        return []
    problems = []
    channels = stats["channels"]
    if array.shape[2] != channels:
        kinds = {1: "grey-scale", 3: "RGB"}
        problems.append(f"the image is {kinds.get(array.shape[2], f'{array.shape[2]}-channel')} but the model was "
                        f"trained on {kinds.get(channels, f'{channels}-channel')} images (converted; check it is the "
                        "right kind of image)")
    pixels = array.astype(np.float32)
    if pixels.max() <= 1 and stats["brightness"]["max"] > 2:
        problems.append("every pixel is 0 or 1: this looks like a 0-1 image saved as 8-bit, but the model expects "
                        "pixels from 0 to 255 (multiply by 255 before saving)")
        return problems
    for name, value in (("brightness", pixels.mean()), ("contrast", pixels.std())):
        reference = stats[name]
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
