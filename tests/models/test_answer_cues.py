"""Answer cues: the lexicon ids, their shares in a passage, the fitted logistic prior and how it joins the logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from meddl.data.tokenizer import Tokenizer
from meddl.models import create
from meddl.models.answer_cues import TAIL_TOKENS, AnswerPrior, CueShares, cue_ids, fit_answer_prior

LEXICONS = [[4, 5, 6], [7, 8]]  # token ids of a few "no effect" and "effect" words


def test_cue_ids_keep_the_words_in_the_vocabulary_only():
    tokenizer = Tokenizer.build(["not no similar significantly increased the rate"], min_freq=1)
    no_effect, effect = cue_ids(tokenizer)
    assert no_effect == sorted(tokenizer.encode("not no similar"))  # "neither", "failed"... are not in it
    assert effect == sorted(tokenizer.encode("significantly increased"))
    assert tokenizer.unk_id not in no_effect + effect


def test_cue_shares_count_real_tokens_over_the_passage_and_its_tail():
    lexicons = [[4, 5], [7]]
    shares = CueShares(lexicons, vocab_size=11)
    long_passage = [9] * (2 * TAIL_TOKENS - 2) + [4, 7]  # the cues sit in the last tokens
    tokens = pad_sequence([torch.tensor([4, 9, 9, 9]), torch.tensor(long_passage)], batch_first=True)
    out = shares(tokens, torch.tensor([4, len(long_passage)]))
    torch.testing.assert_close(out[0], torch.tensor([0.25, 0.0, 0.25, 0.0]))  # padding never counts
    n = len(long_passage)
    torch.testing.assert_close(out[1], torch.tensor([1 / n, 1 / n, 1 / TAIL_TOKENS, 1 / TAIL_TOKENS]))


def _passages(rng: np.random.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """'no' answers (1) use the no-effect words, 'yes' answers (0) the effect words, among filler."""
    labels = rng.integers(0, 2, n)
    texts = []
    for label in labels:
        cues = [4, 5, 6] if label == 1 else [7, 8]
        words = rng.choice([9, 10], size=rng.integers(20, 60)).tolist()
        for _ in range(3):
            words.insert(int(rng.integers(0, len(words))), int(rng.choice(cues)))
        texts.append(torch.tensor(words))
    return pad_sequence(texts, batch_first=True), torch.tensor([len(t) for t in texts]), labels


def test_fitted_prior_answers_from_the_cues_and_rules_out_classes_never_seen():
    rng = np.random.default_rng(0)
    tokens, lengths, labels = _passages(rng, 200)
    prior = fit_answer_prior(tokens, lengths, labels, LEXICONS, vocab_size=11, n_classes=3)
    module = AnswerPrior(**prior, vocab_size=11)
    new_tokens, new_lengths, new_labels = _passages(rng, 100)
    logits = module(new_tokens, new_lengths)
    assert logits.shape == (100, 3)
    assert (logits.argmax(1).numpy() == new_labels).mean() > 0.95
    assert (logits[:, 2] < -20).all()  # "maybe" never occurs in these training labels


@pytest.mark.parametrize("pair", [False, True])
def test_the_prior_is_added_to_the_network_logits(pair):
    torch.manual_seed(0)
    prior = {"lexicons": [[4, 5], [7]], "weight": [[1.0, -2.0, 0.5, 0.0], [0.0, 3.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]],
             "bias": [0.1, -0.2, 0.3]}
    with_prior = create("bilstm-attention", 1, 3, vocab_size=11, pair=pair, answer_prior=prior).eval()
    without = create("bilstm-attention", 1, 3, vocab_size=11, pair=pair).eval()
    without.load_state_dict(with_prior.state_dict(), strict=False)
    tokens, lengths = torch.tensor([[4, 7, 9, 0], [5, 5, 10, 9]]), torch.tensor([3, 4])
    question = {"question": torch.tensor([[9, 10]]).repeat(2, 1), "question_lengths": torch.tensor([2, 2])} \
        if pair else {}
    expected = without(tokens, lengths, **question) + AnswerPrior(**prior, vocab_size=11)(tokens, lengths)
    torch.testing.assert_close(with_prior(tokens, lengths, **question), expected)
