"""ECG and recurrent models: shapes with and without RR features, tokens with packed padding, and learning."""

from __future__ import annotations

import pytest
import torch

from meddl.models import create
from meddl.models.registry import model_info

SIGNAL_MODELS = ("cnn1d", "cnn-lstm", "lstm", "gru")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.parametrize("name", SIGNAL_MODELS)
@pytest.mark.parametrize(("leads", "n_features"), [(1, 0), (2, 4)])
def test_signal_models_give_logits_per_beat(name, leads, n_features):
    torch.manual_seed(0)
    net = create(name, in_channels=leads, num_classes=4, length=252, n_features=n_features).eval()
    signals = torch.randn(3, leads, 252)
    features = torch.rand(3, n_features) if n_features else None
    with torch.no_grad():
        logits = net(signals, features=features)
        assert logits.shape == (3, 4) and torch.isfinite(logits).all()
        if n_features:  # the features reach the head
            assert not torch.allclose(logits, net(signals, features=features + 1.0))


@pytest.mark.parametrize("name", SIGNAL_MODELS)
def test_a_model_built_with_features_asks_for_them(name):
    net = create(name, in_channels=1, num_classes=4, length=252, n_features=4).eval()
    with pytest.raises(ValueError, match="pass features"):
        net(torch.randn(2, 1, 252))


def test_families_and_inputs_are_registered():
    assert {model_info(n).family for n in ("cnn1d", "cnn-lstm")} == {"ecg"}
    assert {model_info(n).family for n in ("lstm", "gru")} == {"rnn"}
    assert model_info("lstm").input_size == "beats or tokens" and model_info("cnn1d").input_size == "beats"


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_does_not_change_a_token_sequence_output(name, bidirectional):
    torch.manual_seed(0)
    net = create(name, in_channels=1, num_classes=3, vocab_size=30, hidden=16, embed_dim=8, layers=2,
                 bidirectional=bidirectional).eval()  # fmt: skip
    short = torch.randint(1, 30, (1, 5))
    batch = torch.zeros(3, 12, dtype=torch.long)
    batch[0, :5] = short
    batch[1] = torch.randint(1, 30, (12,))
    batch[2, :8] = torch.randint(1, 30, (8,))
    lengths = torch.tensor([5, 12, 8])
    with torch.no_grad():
        alone = net(short, lengths=torch.tensor([5]))
        together = net(batch, lengths=lengths)
        batch[0, 5:] = 7  # whatever sits beyond the length is never read
        garbage = net(batch, lengths=lengths)
    assert together.shape == (3, 3)
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(garbage, together)


def test_recurrent_signal_input_is_shortened_to_about_80_steps():
    net = create("gru", in_channels=1, num_classes=2, length=252)
    steps = net.embed(torch.randn(1, 1, 252)).shape[-1]
    assert 60 <= steps <= 100


SMALL = {"cnn1d": {"width": 8}, "cnn-lstm": {"width": 8, "hidden": 16}, "lstm": {"hidden": 16, "layers": 1},
         "gru": {"hidden": 16, "layers": 1}}  # fmt: skip


@pytest.mark.parametrize("name", SIGNAL_MODELS)
def test_models_learn_beat_shape_and_rr_features(name):
    """Narrow vs wide synthetic 'QRS' decides class 0/1; early beats (seen only in the features) are class 2."""
    torch.manual_seed(0)
    t = torch.arange(120.0)
    width = torch.tensor([3.0, 10.0, 3.0]).repeat(16)
    labels = torch.tensor([0, 1, 2]).repeat(16)
    signals = torch.exp(-0.5 * ((t - 40) / width[:, None]) ** 2)[:, None] + 0.05 * torch.randn(48, 1, 120)
    features = torch.where(labels == 2, 0.5, 1.0)[:, None] + 0.02 * torch.randn(48, 1)
    net = create(name, in_channels=1, num_classes=3, length=120, n_features=1, **SMALL[name])
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):  # enough for batch-norm running statistics to settle too
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(signals, features=features), labels).backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(signals, features=features).argmax(dim=1) == labels).float().mean().item()
    assert accuracy > 0.9, f"{name} reached {accuracy:.2f} training accuracy"
