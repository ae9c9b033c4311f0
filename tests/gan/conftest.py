"""A tiny GAN trained once per session on a subset of real PneumoniaMNIST, shared by the GAN tests."""

from pathlib import Path

import numpy as np
import pytest
from helpers import SHARED_MEDMNIST

TINY = {"train": 256, "val": 64, "test": 120}


def write_subset(path: Path, source: str = "pneumoniamnist", counts: dict = TINY) -> Path:
    """A MedMNIST-layout .npz of the first images of each split of a real MedMNIST file, plus label names."""
    with np.load(SHARED_MEDMNIST / f"{source}.npz") as archive:
        arrays = {f"{split}_{kind}": archive[f"{split}_{kind}"][:n] for split, n in counts.items()
                  for kind in ("images", "labels")}
    np.savez(path, **arrays, label_names=np.array(["normal", "pneumonia"]))
    return path


@pytest.fixture(scope="session")
def tiny_pneumonia(tmp_path_factory) -> Path:
    if not (SHARED_MEDMNIST / "pneumoniamnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")
    return write_subset(tmp_path_factory.mktemp("data") / "pneumonia_small.npz")


@pytest.fixture(scope="session")
def tiny_gan_run(tiny_pneumonia, tmp_path_factory):
    """(GanRunResult, npz path): 3 epochs of a small conditional DCGAN on 256 real chest X-rays."""
    from meddl.api import synthesize

    result = synthesize(str(tiny_pneumonia), tmp_path_factory.mktemp("gan") / "run", epochs=3, batch_size=32,
                       width=16, sample_every=1, seed=0, progress=False, precision="32-true")
    return result, tiny_pneumonia
