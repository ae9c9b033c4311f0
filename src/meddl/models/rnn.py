"""Recurrent classifiers (LSTM, GRU) for ECG signals and for token sequences.

On signals (B, leads, T) a strided convolution first turns the beat into ~80 steps (a 252-sample beat read one
sample at a time is slow to train and hard to remember across); the recurrent states are mean-pooled over time.
On tokens (B, L) with `lengths`, padded sequences are packed, so padding never enters the recurrence and a
sequence's logits do not depend on what it is batched with; the final states (forward: after the last real token,
backward: after the first) represent it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from meddl.models.ecg import FeatureHead
from meddl.models.registry import register_model

TARGET_STEPS = 80  # recurrent steps a signal is shortened to


class RecurrentClassifier(nn.Module):
    """An LSTM or GRU over signal steps or embedded tokens, then a head (with optional extra features)."""

    def __init__(self, cell: str, in_channels: int, num_classes: int, length: int = 252, n_features: int = 0,
                 vocab_size: int = 0, embed_dim: int = 128, hidden: int = 128, layers: int = 2,
                 bidirectional: bool = True, dropout: float = 0.2):  # fmt: skip
        super().__init__()
        self.tokens = vocab_size > 0
        if self.tokens:
            self.embed: nn.Module = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        else:
            stride = max(1, round(length / TARGET_STEPS))
            self.embed = nn.Sequential(
                nn.Conv1d(in_channels, embed_dim, 2 * stride + 1, stride, padding=stride), nn.ReLU(inplace=True)
            )
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(embed_dim, hidden, layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)  # fmt: skip
        self.head = FeatureHead(hidden * (2 if bidirectional else 1), n_features, num_classes, dropout=dropout)

    def forward(
        self, x: torch.Tensor, features: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        if not self.tokens:
            steps, _ = self.rnn(self.embed(x).transpose(1, 2))  # (B, steps, directions*hidden)
            return self.head(steps.mean(dim=1), features)
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        final = state[0] if isinstance(state, tuple) else state  # LSTM: (h, c); GRU: h
        directions = 2 if self.rnn.bidirectional else 1
        last_layer = final[-directions:]  # (directions, B, hidden)
        return self.head(last_layer.transpose(0, 1).reshape(x.shape[0], -1), features)


@register_model("lstm", "rnn", "LSTM classifier (2 layers, bidirectional) over ECG beats (strided conv stem, ~80 "
                "steps) or tokens (embedding, packed sequences)", "beats or tokens")  # fmt: skip
def lstm(in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    return RecurrentClassifier("lstm", in_channels, num_classes, **kwargs)


@register_model("gru", "rnn", "GRU classifier (2 layers, bidirectional) over ECG beats (strided conv stem, ~80 "
                "steps) or tokens (embedding, packed sequences)", "beats or tokens")  # fmt: skip
def gru(in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    return RecurrentClassifier("gru", in_channels, num_classes, **kwargs)
