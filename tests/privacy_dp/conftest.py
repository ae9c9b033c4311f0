"""Settings shared by the differential-privacy tests."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One torch thread: on a CPU that other jobs keep busy, two threads wait on each other and every step of
    these tiny runs gets several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
