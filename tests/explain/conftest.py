"""The marker run (see explain_helpers), trained once per session for all explanation tests."""

import pytest
from explain_helpers import MarkerRun, train_marker_run
from helpers import SHARED_MEDMNIST


@pytest.fixture(scope="session")
def marker_run(tmp_path_factory) -> MarkerRun:
    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")
    return train_marker_run(SHARED_MEDMNIST, tmp_path_factory.mktemp("explain"))
