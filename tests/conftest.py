"""Fixtures shared by all tests."""

from pathlib import Path

import pytest

# The shared data folder sits beside the repository checkout: /work/main/../shared/data.
SHARED_MEDMNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "medmnist"


@pytest.fixture
def shared_medmnist() -> Path:
    """The folder holding the official MedMNIST 28x28 .npz files; skips the test where it is absent."""
    if not (SHARED_MEDMNIST / "pneumoniamnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")
    return SHARED_MEDMNIST


@pytest.fixture
def medmnist_env(shared_medmnist, monkeypatch) -> Path:
    """MEDDL_DATA_DIR pointed at the shared MedMNIST files, and the download cache at an empty temp folder."""
    monkeypatch.setenv("MEDDL_DATA_DIR", str(shared_medmnist))
    return shared_medmnist


def write_real_png_folder(shared: Path, root: Path, per_class: int = 40, dataset: str = "breastmnist") -> Path:
    """A folder of class sub-folders made of real MedMNIST images saved as PNG, as a user would have."""
    import numpy as np
    from PIL import Image

    with np.load(shared / f"{dataset}.npz") as archive:
        images, labels = archive["train_images"], archive["train_labels"].ravel()
    names = {0: "malignant", 1: "benign"} if dataset == "breastmnist" else {}
    for label in np.unique(labels):
        folder = root / names.get(int(label), f"class{label}")
        folder.mkdir(parents=True, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            Image.fromarray(images[index]).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def real_png_folder(shared_medmnist, tmp_path) -> Path:
    return write_real_png_folder(shared_medmnist, tmp_path / "breast_pngs")
