"""Averaging several predictions into one network: an ensemble of K independently initialised members, and the
rule both the ensemble and test-time augmentation use to combine predictions.

Combined outputs stay logits, so everything downstream (the task's probabilities, ONNX export, the API, the
report) treats an ensemble as one model. For a softmax head the combined logit of class c is
log(mean_k softmax(z_k)_c), whose softmax is exactly the members' mean probability; for sigmoid heads (multi-label
labels, ordinal cumulative probabilities) it is the logit of the members' mean probability.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

HEADS = ("softmax", "sigmoid")


def head_for(task: str) -> str:
    """How a task turns logits into probabilities: one softmax over classes, or one sigmoid per output."""
    return "sigmoid" if task in ("multi-label", "ordinal") else "softmax"


def mean_probability_logits(stacked: torch.Tensor, head: str) -> torch.Tensor:
    """Logits (N, C) whose probabilities are the mean of those of `stacked` (K, N, C) logits, computed in log
    space (logsumexp) so that confident members neither overflow nor round to 0 or 1."""
    stacked = stacked.float()
    log_k = math.log(stacked.shape[0])
    if head == "softmax":
        return torch.logsumexp(F.log_softmax(stacked, dim=-1), dim=0) - log_k
    if head == "sigmoid":
        log_p = torch.logsumexp(F.logsigmoid(stacked), dim=0) - log_k
        log_not_p = torch.logsumexp(F.logsigmoid(-stacked), dim=0) - log_k
        return log_p - log_not_p
    raise ValueError(f"head {head!r}: expected one of {', '.join(HEADS)}")


class Ensemble(nn.Module):
    """K networks of one architecture; the output is the logit of their mean probability.

    Members are trained together on the same batches, each with its own initialisation and its own augmentation
    draws (`meddl.tasks.image.module.ImageClassifier`); one checkpoint holds them all."""

    def __init__(self, members: list[nn.Module], head: str):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        if head not in HEADS:
            raise ValueError(f"head {head!r}: expected one of {', '.join(HEADS)}")
        self.members = nn.ModuleList(members)
        self.head = head

    def member_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(K, N, C) logits of every member for the same images."""
        return torch.stack([member(images) for member in self.members])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return mean_probability_logits(self.member_logits(images), self.head)


def explained_networks(net: nn.Module) -> list[nn.Module]:
    """The single networks whose feature maps an explanation reads: an ensemble's members (and, beneath
    test-time augmentation, the network it wraps); any other network is its own."""
    inner = getattr(net, "wrapped", None)
    if isinstance(inner, nn.Module):
        return explained_networks(inner)
    if isinstance(net, Ensemble):
        return list(net.members)
    return [net]
