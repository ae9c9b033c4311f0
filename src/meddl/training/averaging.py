"""Weight averaging: an exponential moving average (EMA) of the weights after every step, or stochastic weight
averaging (SWA: the plain mean of the weights at the end of each epoch from a chosen epoch on). Both are
`torch.optim.swa_utils.AveragedModel` copies of the network that also average batch-norm's running statistics
(`use_buffers=True`), so the averaged network needs no extra pass over the training data before it is used."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

WEIGHT_AVERAGES = ("none", "ema", "swa")


def ema_with_warmup(decay: float):
    """EMA update whose decay ramps up as min(decay, (1 + n) / (10 + n)) over the first updates n: with a fixed
    0.999 the average would still be mostly the random initial weights for the first thousand steps, which on a
    small dataset is the whole run."""

    def average(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        rate = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        return averaged + (current - averaged) * (1.0 - rate)

    return average


def averaged_copy(net: nn.Module, mode: str, decay: float = 0.999) -> AveragedModel:
    """The averaged copy of `net` for `mode` "ema" (decay per step, with warm-up) or "swa" (equal weights)."""
    if mode == "ema":
        return AveragedModel(net, avg_fn=ema_with_warmup(decay), use_buffers=True)
    if mode == "swa":
        return AveragedModel(net, use_buffers=True)
    raise ValueError(f"weight average {mode!r}: expected one of {', '.join(WEIGHT_AVERAGES[1:])}")
