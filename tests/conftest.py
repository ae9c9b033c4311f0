"""Fixtures shared by all tests."""

from pathlib import Path

import pytest
from helpers import SHARED_MEDMNIST, write_real_png_folder


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


@pytest.fixture
def real_png_folder(shared_medmnist, tmp_path) -> Path:
    return write_real_png_folder(shared_medmnist, tmp_path / "breast_pngs")


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared, busy CPU two spinning threads make small models 10-20x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
