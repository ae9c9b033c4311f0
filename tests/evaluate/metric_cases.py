"""Labels and probabilities for the metric tests: random with some signal, optionally with many tied scores."""

from __future__ import annotations

import numpy as np


def make_case(task: str, n: int, k: int, seed: int, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities with some signal; `ties` draws scores from a coarse grid so many are equal."""
    rng = np.random.default_rng(seed)
    if task == "multi-label":
        y = (rng.random((n, k)) < 0.3).astype(int)
        p = 0.3 * y + 0.7 * rng.random((n, k))
        return y, (np.round(p * 4) / 4 if ties else p)
    classes = 2 if task == "binary" else k
    y = rng.integers(0, classes, n)
    logits = rng.integers(0, 3, (n, classes)).astype(float) if ties else rng.normal(size=(n, classes))
    logits[np.arange(n), y] += 1.0
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def names(k: int) -> list[str]:
    return [f"class {i}" for i in range(k)]
