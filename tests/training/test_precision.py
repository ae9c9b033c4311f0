"""What precision and memory format a run picks when the user leaves them to meddl."""

import pytest
import torch

from meddl.training.config import make_config
from meddl.training.trainer import resolve_precision

cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU defaults")


@cpu_only
@pytest.mark.parametrize("precision", ["auto", "32-true", "bf16-mixed"])
def test_cpu_runs_use_channels_last_in_every_precision(precision):
    chosen, channels_last = resolve_precision(make_config("pneumoniamnist", precision=precision, accelerator="cpu"))
    assert channels_last is True
    assert chosen == precision or precision == "auto"


def test_an_explicit_memory_format_wins():
    config = make_config("pneumoniamnist", precision="32-true", accelerator="cpu", channels_last=False)
    assert resolve_precision(config) == ("32-true", False)
