"""The bootstrap as case weights, and the NaN-safe arithmetic every weighted metric shares.

A bootstrap resample draws n cases with replacement; instead of copying them, each case gets the number of times it
was drawn as its weight, and every metric is a weighted sum over the original cases. The point estimate is the same
computation with all weights one. One vectorised code path therefore serves both, and 1000 resamples of a MedMNIST
test set take about a second instead of the minutes that 1000 calls to scikit-learn would.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from meddl.errors import ConfigError

CHUNK_CELLS = 4_000_000  # resamples x cases held in memory at once (~32 MB of float64)


def check_options(n_boot: int, alpha: float) -> None:
    """Refuse a bootstrap that cannot give an interval, naming both values."""
    if n_boot < 1 or not 0 < alpha < 1:
        raise ConfigError(f"bootstrap: expected n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")


def resample_weights(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Case weights (rows, n) of `n_boot` resamples of `n` cases, a memory-sized chunk of rows at a time.

    Row r counts how often each case was drawn in resample r, where resample r is the cases
    `default_rng(seed).integers(0, n, (n_boot, n))[r]`: the same seed gives the same resamples to every metric, so
    intervals computed in separate passes describe the same resampled data sets.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, CHUNK_CELLS // n)
    for start in range(0, n_boot, per_chunk):
        rows = min(per_chunk, n_boot - start)
        picks = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
        yield np.bincount(picks.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


def percentile_interval(draws: np.ndarray, alpha: float) -> list[float | None]:
    """The percentile interval [low, high] of the defined draws (NaN: undefined in that resample, left out);
    [None, None] where none is defined."""
    draws = np.asarray(draws, float)
    draws = draws[~np.isnan(draws)]
    if not draws.size:
        return [None, None]
    return [float(bound) for bound in np.percentile(draws, [50 * alpha, 100 - 50 * alpha])]


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN for 0/0, without warnings: an undefined rate, not an error."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den != 0)


def nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the defined entries (NaN where none is), silently: averaging only what exists is intended."""
    defined = ~np.isnan(x)
    return ratio(np.where(defined, x, 0.0).sum(axis=axis), defined.sum(axis=axis))


def num(value: float) -> float | None:
    """A Python float for JSON, or None for an undefined (NaN) value."""
    return None if np.isnan(value) else float(value)
