"""Thresholds tuned on validation data: Youden's J and a target sensitivity, checked on cases worked by hand."""

import numpy as np
import pytest

from meddl.errors import ConfigError
from meddl.evaluate.thresholds import choose_threshold, tune_thresholds

# positives score 0.3..0.9, negatives 0.1..0.5: the cut that separates best lies between 0.5 and 0.3
Y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
S = np.array([0.1, 0.2, 0.25, 0.4, 0.5, 0.3, 0.6, 0.7, 0.8, 0.9])


def sensitivity_specificity(threshold):
    predicted = S > threshold  # meddl's (and MedMNIST's) reading: positive when strictly above
    return predicted[Y == 1].mean(), (~predicted[Y == 0]).mean()


def test_youden_maximises_sensitivity_plus_specificity():
    best = choose_threshold(Y, S)
    sens, spec = sensitivity_specificity(best)
    j = sens + spec - 1
    for candidate in np.unique(S):
        s, p = sensitivity_specificity(candidate)
        assert s + p - 1 <= j + 1e-12
    assert 0.5 < best < 0.6  # between the highest negative and the second-lowest positive: sens 0.8, spec 1.0


def test_target_sensitivity_is_reached_with_the_highest_threshold():
    threshold = choose_threshold(Y, S, target_sensitivity=1.0)
    assert 0.25 < threshold < 0.3  # just below the lowest positive score: every positive caught
    assert sensitivity_specificity(threshold) == (1.0, 0.6)
    assert 0.6 < choose_threshold(Y, S, target_sensitivity=0.6) < 0.7


def test_per_task_shapes():
    probs = np.stack([1 - S, S], axis=1)
    assert isinstance(tune_thresholds("binary", Y, probs), float)
    multi = tune_thresholds("multi-label", np.stack([Y, 1 - Y], axis=1), np.stack([S, 1 - S], axis=1))
    assert len(multi) == 2
    assert tune_thresholds("multi-class", Y, probs) is None


def test_one_class_only_keeps_half_and_bad_target_is_an_error():
    assert choose_threshold(np.zeros(4), np.linspace(0, 1, 4)) == 0.5
    with pytest.raises(ConfigError, match="target sensitivity"):
        tune_thresholds("binary", Y, np.stack([1 - S, S], axis=1), target_sensitivity=1.5)
