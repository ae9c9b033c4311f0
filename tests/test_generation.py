"""sample_text: reproducible with a seed, greedy with top_k=1, stops at <eos>, and clear errors."""

from __future__ import annotations

import pytest
import torch

from meddl.data.tokenizer import Tokenizer
from meddl.errors import ConfigError, DataError
from meddl.tasks.language_model.generation import sample_text
from meddl.models import registry

CORPUS = ["the patients were randomised to aspirin or placebo.", "the trial was stopped early for benefit."]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def language_model(tokenizer: Tokenizer, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return registry.create("lstm-lm", 1, tokenizer.vocab_size, vocab_size=tokenizer.vocab_size, embed_dim=16,
                           hidden=32, dropout=0.0)


@pytest.fixture
def words() -> Tokenizer:
    return Tokenizer.build(CORPUS, "word", min_freq=1)


@pytest.fixture
def chars() -> Tokenizer:
    return Tokenizer.build(CORPUS, "char", min_freq=1)


def test_same_seed_same_text_other_seed_other_text(words):
    net = language_model(words)
    first = sample_text(net, words, "the patients", max_tokens=30, seed=1)
    assert first == sample_text(net, words, "the patients", max_tokens=30, seed=1)
    assert first.startswith("the patients ") and len(first) > len("the patients ")
    others = {sample_text(net, words, "the patients", max_tokens=30, seed=seed) for seed in range(2, 6)}
    assert others - {first}


def test_top_k_one_is_greedy_whatever_the_seed(chars):
    net = language_model(chars).eval()
    texts = {sample_text(net, chars, "The trial", max_tokens=15, top_k=1, seed=seed) for seed in range(4)}
    assert len(texts) == 1
    ids = [chars.bos_id, *chars.encode("the trial")]
    with torch.no_grad():  # the greedy continuation, step by step (never <pad>, <bos> or <unk>)
        for _ in range(15):
            logits = net(torch.tensor([ids]), state=None)[0][0, -1]
            logits[[chars.pad_id, chars.bos_id, chars.unk_id]] = float("-inf")
            if (token := int(logits.argmax())) == chars.eos_id:
                break
            ids.append(token)
    assert texts == {chars.decode(ids)}


def test_a_trained_model_continues_what_it_learnt(chars):
    net = language_model(chars)
    stream = torch.tensor([chars.bos_id, *chars.encode(CORPUS[0]), chars.eos_id])
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-2)
    for _ in range(150):
        optimiser.zero_grad()
        logits = net(stream[None, :-1], state=None)[0][0]
        torch.nn.functional.cross_entropy(logits, stream[1:]).backward()
        optimiser.step()
    assert net.training  # sampling leaves the mode as it found it
    assert sample_text(net, chars, "the patients", max_tokens=100, top_k=1) == CORPUS[0]  # stopped at <eos>


def test_eos_stops_generation(words):
    net = language_model(words)
    with torch.no_grad():
        net.decoder.bias[words.eos_id] = 100.0
    assert sample_text(net, words, "The trial", max_tokens=50, seed=0) == "the trial"


def test_max_tokens_bounds_the_continuation(words):
    net = language_model(words)
    text = sample_text(net, words, "the", max_tokens=3, temperature=5.0, seed=0)
    assert 1 <= len(words.encode(text)) <= 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_tokens": 0}, "max_tokens"), ({"temperature": 0}, "temperature"), ({"temperature": -1.0}, "temperature"),
     ({"top_k": 0}, "top_k"), ({"max_tokens": 2.5}, "max_tokens")],
)
def test_bad_arguments_are_config_errors(words, kwargs, message):
    arguments = {"max_tokens": 5, **kwargs}
    with pytest.raises(ConfigError, match=message):
        sample_text(language_model(words), words, "the trial", **arguments)


def test_prompts_the_vocabulary_cannot_read(words, chars):
    with pytest.raises(DataError, match="unknown characters 'z'"):
        sample_text(language_model(chars), chars, "the zebra", max_tokens=5)
    with pytest.raises(DataError, match="unknown words 'zebra'"):
        sample_text(language_model(words), words, "zebra", max_tokens=5)
    with pytest.raises(DataError, match="prompt is empty"):
        sample_text(language_model(words), words, "  ", max_tokens=5)
    assert sample_text(language_model(words), words, "the zebra", max_tokens=2).startswith("the <unk>")
