"""ECG beat classifiers: a residual 1D CNN and a CNN+LSTM hybrid.

Both take beats (B, leads, T) and optional per-beat features (B, F) such as RR intervals, which are concatenated
with the pooled signal representation before the head: rhythm (how early a beat comes) is what tells a premature
supraventricular beat from a normal one, and a short window alone does not show it.
"""

from __future__ import annotations

import torch
from torch import nn

from meddl.models.registry import register_model


class FeatureHead(nn.Module):
    """Pooled signal representation + batch-normalised extra features -> hidden layer -> logits."""

    def __init__(self, in_features: int, n_features: int, num_classes: int, hidden: int = 64, dropout: float = 0.2):
        super().__init__()
        # RR intervals in seconds and their ratio differ in scale from the pooled activations: normalise them.
        self.feature_norm = nn.BatchNorm1d(n_features) if n_features else None
        self.mlp = nn.Sequential(
            nn.Linear(in_features + n_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )  # fmt: skip

    def forward(self, pooled: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        if self.feature_norm is not None:
            if features is None:
                raise ValueError(f"this model was built with {self.feature_norm.num_features} extra features; "
                                 "pass features=(B, F)")  # fmt: skip
            pooled = torch.cat([pooled, self.feature_norm(features)], dim=1)
        return self.mlp(pooled)


class ResidualBlock1d(nn.Module):
    """Two 'same' convolutions with batch-norm and a skip connection (1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, kernel: int = 5):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv1d(out_channels, out_channels, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm1d(out_channels),
        )
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm1d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class CNN1d(nn.Module):
    """Stem, three residual stages (width, 2x, 4x; the last two halve the time axis), global average pooling."""

    def __init__(self, in_channels: int, num_classes: int, n_features: int = 0, width: int = 32, dropout: float = 0.2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, width, 7, padding=3, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
            ResidualBlock1d(width, width),
            ResidualBlock1d(width, 2 * width, stride=2),
            ResidualBlock1d(2 * width, 4 * width, stride=2),
        )  # fmt: skip
        self.head = FeatureHead(4 * width, n_features, num_classes, dropout=dropout)

    def forward(self, signals: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(signals).mean(dim=-1), features)


def _conv_pool(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool1d(2),
    )


class CNNLSTM(nn.Module):
    """Three conv+pool stages shorten the beat 8-fold (252 samples -> 31 steps) into local wave shapes; a BiLSTM
    reads their order (P wave, QRS, T wave); mean and max over time pooled."""

    def __init__(self, in_channels: int, num_classes: int, n_features: int = 0, width: int = 32, hidden: int = 64,
                 dropout: float = 0.2):  # fmt: skip
        super().__init__()
        self.features = nn.Sequential(
            _conv_pool(in_channels, width, 7), _conv_pool(width, 2 * width, 5), _conv_pool(2 * width, 2 * width, 5)
        )
        self.lstm = nn.LSTM(2 * width, hidden, batch_first=True, bidirectional=True)
        self.head = FeatureHead(4 * hidden, n_features, num_classes, dropout=dropout)

    def forward(self, signals: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        steps, _ = self.lstm(self.features(signals).transpose(1, 2))  # (B, T', 2*hidden)
        pooled = torch.cat([steps.mean(dim=1), steps.amax(dim=1)], dim=1)
        return self.head(pooled, features)


@register_model("cnn1d", "ecg", "Residual 1D CNN for ECG beats (3 stages, batch-norm, global pooling; ~0.2M "
                "parameters); RR features joined before the head", "beats")  # fmt: skip
def cnn1d(in_channels: int, num_classes: int, length: int = 252, n_features: int = 0, width: int = 32,
          dropout: float = 0.2) -> nn.Module:  # fmt: skip
    return CNN1d(in_channels, num_classes, n_features, width, dropout)


@register_model("cnn-lstm", "ecg", "1D CNN front end (8x downsampling) + BiLSTM + mean/max pooling for ECG beats "
                "(train with --epochs 10; the ECG default before ecg-boost)", "beats")  # fmt: skip
def cnn_lstm(in_channels: int, num_classes: int, length: int = 252, n_features: int = 0, width: int = 32,
             hidden: int = 64, dropout: float = 0.2) -> nn.Module:  # fmt: skip
    return CNNLSTM(in_channels, num_classes, n_features, width, hidden, dropout)
