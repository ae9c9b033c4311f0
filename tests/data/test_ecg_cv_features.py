"""Record-grouped folds and the per-record rhythm/morphology features, on synthetic records."""

from __future__ import annotations

import numpy as np
import pytest

from meddl.data.ecg_cv import record_folds
from meddl.data.ecg_features import MORPHOLOGY_NAMES, RHYTHM_NAMES, morphology_features, rhythm_context_features
from meddl.errors import ConfigError


def test_no_record_is_in_two_folds_and_each_is_held_out_once():
    rng = np.random.default_rng(0)
    records = rng.choice([f"r{i}" for i in range(22)], size=3000)
    held_out = []
    for fit, held in record_folds(records, 6):
        assert not set(records[fit]) & set(records[held])
        assert len(fit) + len(held) == len(records)
        held_out.extend(np.unique(records[held]))
    assert sorted(held_out) == sorted(np.unique(records))


def test_too_few_records_for_the_folds_is_a_config_error():
    with pytest.raises(ConfigError, match="at least 3 records; the training split has 2"):
        record_folds(np.array(["a", "a", "b"]), 3)


def _peaks(rr: np.ndarray, fs: float = 360.0) -> np.ndarray:
    return np.round(np.concatenate([[0.0], np.cumsum(rr)]) * fs).astype(np.int64) + 1000


def test_a_premature_beat_is_early_against_the_local_median_and_followed_by_a_pause():
    rr = np.full(60, 0.8)
    rr[29], rr[30] = 0.5, 1.1  # beat 30 comes early, the next one late
    features = rhythm_context_features(_peaks(rr), 360.0)
    assert features.shape == (61, len(RHYTHM_NAMES))
    pre, post, pause = features[30, :3]
    assert pre == pytest.approx(0.5 / 0.8, rel=1e-3) and post == pytest.approx(1.1 / 0.8, rel=1e-3)
    assert pause > 2 and np.allclose(features[5, :3], 1.0)


def test_an_irregular_rhythm_scores_higher_irregularity_than_a_regular_one():
    rng = np.random.default_rng(1)
    regular = rhythm_context_features(_peaks(rng.normal(0.8, 0.01, 80)), 360.0)[:, 3]
    fibrillation = rhythm_context_features(_peaks(rng.uniform(0.4, 1.2, 80)), 360.0)[:, 3]
    assert fibrillation.min() > regular.max()


def test_morphology_compares_each_beat_with_the_records_median_beat():
    t = np.arange(252)
    normal = np.exp(-((t - 90) / 6.0) ** 2)
    wide = 2.5 * np.exp(-((t - 90) / 20.0) ** 2)  # a wide, large ventricular beat
    rng = np.random.default_rng(2)
    windows = np.stack([normal] * 40 + [wide] * 5)[:, None, :] + rng.normal(0, 0.01, (45, 1, 252))
    features = morphology_features(windows, before=90, fs=360.0)
    column = {name: features[:, i] for i, name in enumerate(MORPHOLOGY_NAMES)}
    assert features.shape == (45, len(MORPHOLOGY_NAMES))
    assert column["corr_qrs"][:40].min() > 0.95 > column["corr_qrs"][40:].max()
    assert column["qrs_width_ratio"][40:].min() > 1.5 > column["qrs_width_ratio"][:40].max()
    assert column["beat_std_ratio"][40:].min() > 2 * column["beat_std_ratio"][:40].max()
