"""The baselines that benchmarks/sequences.py sets beside meddl: Kneser-Ney LM and TF-IDF + logistic regression."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from sequence_baselines import (  # noqa: E402
    KneserNeyLM, ecg_logreg, macro_f1_from_se_ppv, majority_scores, tfidf_logreg,
)

SENTENCES = [
    "the patient was given aspirin and the pain resolved",
    "the patient was given heparin and the bleeding stopped",
    "the child was given aspirin and the fever resolved",
    "the patient was treated with heparin and the clot resolved",
    "the woman was given aspirin and the headache resolved",
] * 6


def _corpus(seed: int = 0):
    words = sorted({w for s in SENTENCES for w in s.split()})
    ids = {w: i + 2 for i, w in enumerate(words)}  # 0 = bos, 1 = eos
    streams = [[0] + [ids[w] for w in s.split()] + [1] for s in SENTENCES]
    return streams, len(ids) + 2


def test_kneser_ney_distributions_sum_to_one():
    streams, vocab = _corpus()
    lm = KneserNeyLM(vocab, order=3).fit(streams[:20])
    for context in ([], [0], [0, streams[0][1]], streams[0][:5], [vocab - 1, vocab - 2]):
        distribution = lm.distribution(context)
        assert distribution.sum() == pytest.approx(1.0, abs=1e-9)
        assert (distribution > 0).all()
    # A seen continuation is more likely than an unseen one after the same history.
    the, patient = streams[0][1], streams[0][2]
    assert lm.prob([0, the], patient) > lm.prob([0, the], the)


def test_kneser_ney_prefers_in_domain_text_to_shuffled():
    streams, vocab = _corpus()
    train, test = streams[:20], streams[20:]
    lm = KneserNeyLM(vocab).fit(train)
    rng = np.random.default_rng(0)
    shuffled = [[s[0]] + list(rng.permutation(s[1:-1])) + [s[-1]] for s in test]
    in_domain, scrambled = lm.perplexity(test), lm.perplexity(shuffled)
    assert in_domain < scrambled / 3
    cross_entropy, n = lm.cross_entropy(test)
    assert n == sum(len(s) - 1 for s in test)  # the first token of each stream is context only
    assert np.exp(cross_entropy) == pytest.approx(in_domain)


def test_tfidf_logreg_learns_a_separable_text_task_and_beats_majority():
    rng = np.random.default_rng(0)
    cues = {0: ["improved", "reduced mortality", "effective"], 1: ["no difference", "not significant", "failed"]}
    filler = "patients were randomised and followed for twelve months in a multicentre trial".split()

    def make(n):
        labels = rng.integers(0, 2, n)
        texts = [" ".join(list(rng.choice(filler, 8)) + [str(rng.choice(cues[int(y)]))]) for y in labels]
        questions = [f"does treatment {rng.integers(0, 5)} help" for _ in labels]
        return texts, questions, labels

    splits = {split: make(n) for split, n in (("train", 80), ("val", 20), ("test", 40))}
    texts = {s: v[0] for s, v in splits.items()}
    questions = {s: v[1] for s, v in splits.items()}
    labels = {s: v[2] for s, v in splits.items()}
    result = tfidf_logreg(texts, labels, ("yes", "no"), questions=questions)
    majority = majority_scores(labels["train"], labels["test"], ("yes", "no"))
    assert result["acc"] >= 0.9 > majority["acc"]
    assert set(result["per_class"]) == {"yes", "no"} and result["n"] == 40


def test_ecg_logreg_and_macro_f1_from_published_se_ppv():
    rng = np.random.default_rng(0)

    def beats(n):
        y = rng.integers(0, 2, n)
        x = rng.normal(0, 1, (n, 1, 64)).astype(np.float32)
        x[:, 0, 20:40] += 3 * y[:, None]
        return x, y

    data = {s: beats(n) for s, n in (("train", 200), ("val", 50), ("test", 100))}
    result = ecg_logreg({s: v[0] for s, v in data.items()}, {s: v[1] for s, v in data.items()}, ("N", "V"))
    assert result["macro_f1"] > 0.9 and result["n_train"] == 250
    se, ppv = {"N": 0.5, "S": 1.0}, {"N": 0.5, "S": 0.0}
    assert macro_f1_from_se_ppv(se, ppv, ("N", "S")) == pytest.approx(0.25)
    assert macro_f1_from_se_ppv(se, ppv, ("N", "S", "V")) is None


def test_tfidf_position_baseline_uses_the_passage_position():
    """Two sections worded alike, told apart only by where they sit: position features make them separable."""
    from meddl.data.types import DatasetInfo, TextSplits
    from sequence_baselines import tfidf_position_logreg

    rng = np.random.default_rng(1)
    words = "patients were randomised and followed for twelve months in a multicentre trial".split()

    def split(name: str, n: int):
        texts, labels, groups = [], [], []
        for doc in range(n):
            for index in range(3):
                texts.append(" ".join(rng.choice(words, 6)))
                labels.append(0 if index == 0 else 1)
                groups.append(f"{name}{doc}")
        return texts, np.array(labels), groups

    parts = {name: split(name, n) for name, n in (("train", 30), ("val", 10), ("test", 20))}
    info = DatasetInfo(name="toy", task="multi-class", n_channels=1, labels=("FIRST", "LATER"), splits={},
                       license="-", kind="text")
    data = TextSplits(info=info, texts={s: p[0] for s, p in parts.items()}, labels={s: p[1] for s, p in parts.items()},
                      groups={s: p[2] for s, p in parts.items()})
    result = tfidf_position_logreg(data)
    assert result["tfidf_position"]["acc"] == 1.0
    assert result["tfidf"]["acc"] < 0.8  # words alone cannot tell the first passage from the others
    assert result["tfidf_position"]["n_features"] == result["tfidf"]["n_features"] + 5
