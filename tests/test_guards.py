"""The input guards on real data: real images of the training distribution pass, blank, noise-like and colour
inputs to a grey model are caught, and a checkpoint from before the roughness statistic still checks the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from meddl.guards import check_input, input_statistics, roughness

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "medmnist"


@pytest.fixture(scope="module")
def breast():
    if not (SHARED / "breastmnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED}")
    with np.load(SHARED / "breastmnist.npz") as archive:
        return archive["train_images"][..., None], archive["val_images"][..., None]


def test_validation_images_pass_and_odd_inputs_are_caught(breast):
    train, val = breast
    stats = input_statistics(train)
    assert sum(bool(check_input(image, stats)) for image in val) == 0
    noise = np.random.default_rng(0).integers(0, 256, size=(28, 28, 1), dtype=np.uint8)
    assert any("roughness" in reason for reason in check_input(noise, stats))
    assert check_input(np.zeros((28, 28, 1), np.uint8), stats) == ["every pixel is 0: a blank image holds nothing "
                                                                    "to classify"]
    photo = np.random.default_rng(1).integers(0, 256, size=(28, 28, 3), dtype=np.uint8)
    assert any("RGB" in reason for reason in check_input(photo, stats))
    assert check_input(np.repeat(val[0], 3, axis=2), stats) == []  # a grey image saved as RGB is grey


def test_roughness_is_the_mean_neighbour_difference():
    image = np.zeros((1, 4, 4, 1), np.uint8)
    image[0, :, ::2] = 10  # columns alternate 10, 0: every horizontal step is 10, no vertical one
    assert roughness(image).tolist() == [5.0]


def test_statistics_without_roughness_still_check_brightness(breast):
    train, _ = breast
    stats = input_statistics(train)
    del stats["roughness"]
    noise = np.random.default_rng(0).integers(0, 256, size=(28, 28, 1), dtype=np.uint8)
    assert not any("roughness" in reason for reason in check_input(noise, stats))
    assert check_input(np.full((28, 28, 1), 255, np.uint8), stats)  # blank white is still caught
