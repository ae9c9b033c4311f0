"""What logits mean for each task type: output widths, losses and probabilities."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from meddl.errors import ConfigError
from meddl.tasks.image import outputs as classification


def test_output_widths():
    assert classification.n_outputs("binary", 2) == 2
    assert classification.n_outputs("multi-class", 8) == 8
    assert classification.n_outputs("multi-label", 14) == 14
    assert classification.n_outputs("ordinal", 5) == 4


def test_losses_match_their_definitions():
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 3), torch.tensor([0, 2, 1, 1, 0, 2])
    assert torch.allclose(classification.loss("multi-class", logits, targets), F.cross_entropy(logits, targets))
    multi_hot = torch.randint(0, 2, (6, 3))
    assert torch.allclose(classification.loss("multi-label", logits, multi_hot),
                          F.binary_cross_entropy_with_logits(logits, multi_hot.float()))
    # ordinal: K-1 cumulative targets P(y > k); grade 2 of 4 -> [1, 1, 0]
    ordinal_logits = torch.randn(1, 3)
    expected = F.binary_cross_entropy_with_logits(ordinal_logits, torch.tensor([[1.0, 1.0, 0.0]]))
    assert torch.allclose(classification.loss("ordinal", ordinal_logits, torch.tensor([2])), expected)


def test_ordinal_probabilities_are_a_distribution_that_follows_the_cumulative_ones():
    torch.manual_seed(1)
    logits = torch.randn(50, 4) * 3
    probs = classification.probabilities("ordinal", logits)
    assert probs.shape == (50, 5)
    assert torch.all(probs >= 0) and torch.allclose(probs.sum(dim=1), torch.ones(50))
    confident_high = classification.probabilities("ordinal", torch.full((1, 4), 10.0))
    assert confident_high.argmax().item() == 4
    confident_low = classification.probabilities("ordinal", torch.full((1, 4), -10.0))
    assert confident_low.argmax().item() == 0


def test_binary_prediction_uses_the_threshold_on_the_positive_class():
    probs = torch.tensor([[0.3, 0.7], [0.6, 0.4]])
    assert classification.predicted_labels("binary", probs).tolist() == [1, 0]
    assert classification.predicted_labels("binary", probs, threshold=0.8).tolist() == [0, 0]


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown task type 'regression'"):
        classification.n_outputs("regression", 3)
