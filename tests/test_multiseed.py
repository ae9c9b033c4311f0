"""Summaries across seeds: parsing --seeds and mean ± sd."""

import statistics

import pytest

from meddl.errors import ConfigError
from meddl.multiseed import parse_seeds, summarise


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2]
    for bad in ("0", "0,0", "a,b"):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_summary_is_mean_and_sample_sd():
    runs = [{"test": {"auc": a, "acc": b}} for a, b in [(0.9, 0.8), (0.92, 0.85), (0.94, 0.83)]]
    summary = summarise(runs)
    assert summary["mean"]["auc"] == pytest.approx(0.92)
    assert summary["sd"]["acc"] == pytest.approx(statistics.stdev([0.8, 0.85, 0.83]))
    assert "perplexity" not in summary["mean"]
