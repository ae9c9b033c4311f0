"""Simple baselines that `sequences.py` runs beside meddl, on exactly the splits (and tokens) meddl sees.

- `majority_scores` / `tfidf_logreg`: the majority class, and TF-IDF (word 1-2-grams) + logistic regression for
  PubMedQA (question and context vectorised separately and stacked) and for section classification, optionally with
  each passage's position features (`tfidf_position_logreg`: both section baselines on a loaded dataset).
- `ecg_logreg`: logistic regression on RR-interval features + the beat window averaged down to a few points per lead,
  fitted on DS1 and scored on DS2 with the same per-class Se/+P/F1 as meddl.
- `KneserNeyLM`: an interpolated Kneser-Ney trigram model over token ids.

Scores use the same definitions as meddl's metrics.json: sensitivity = recall, ppv = precision (+P), F1 per class,
macro-F1 the unweighted mean over the listed classes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Sequence

import numpy as np


def scores(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], scored: Sequence[str] | None = None,
           groups: Sequence[str] | None = None) -> dict:
    """meddl's own test metrics for hard predictions (so a baseline and meddl are scored by one definition): acc,
    macro_f1 over `scored` (default every label), per_class {label: {sensitivity, ppv, f1, support}} as fractions;
    with `groups` (records, documents) also meddl's cluster-bootstrap 95% intervals under "ci"."""
    from meddl.evaluate.grouped_metrics import bootstrap_ci, classification_metrics

    one_hot = np.eye(len(labels))[np.asarray(y_pred, dtype=np.int64)]
    scored = list(scored or labels)
    result = classification_metrics(np.asarray(y_true), one_hot, list(labels), scored)
    if groups is not None:
        result["ci"] = bootstrap_ci(np.asarray(y_true), one_hot, groups, list(labels), scored)
    return result


def majority_scores(train_labels: np.ndarray, test_labels: np.ndarray, labels: Sequence[str],
                    groups: Sequence[str] | None = None) -> dict:
    """Always answer the most frequent training class."""
    majority = int(np.bincount(train_labels, minlength=len(labels)).argmax())
    result = scores(test_labels, np.full_like(test_labels, majority), labels, groups=groups)
    result["predicts"] = labels[majority]
    return result


def _tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True)


def tfidf_logreg(
    texts: dict[str, list[str]],
    labels: dict[str, np.ndarray],
    label_names: Sequence[str],
    questions: dict[str, list[str]] | None = None,
    c_grid: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
    groups: Sequence[str] | None = None,
    seed: int = 0,
    positions: dict[str, np.ndarray] | None = None,
) -> dict:
    """TF-IDF + logistic regression fitted on `train`, C chosen by validation accuracy, scored on `test`.

    With `questions` (PubMedQA), question and context get their own vectoriser and the two matrices are stacked, so
    a question word and the same word in the abstract are different features. With `positions` ((N, 2) index and
    count of each passage in its abstract, as `meddl.data.batching.passage_positions` gives them), the passage's
    position features (`meddl.data.batching.position_features`, the ones passage-bilstm sees) are stacked too.
    """
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    from meddl.data.batching import position_features

    def features(fitted: list, split: str):
        blocks = [fitted[0].transform(texts[split])]
        if questions:
            blocks.append(fitted[1].transform(questions[split]))
        if positions:
            blocks.append(csr_matrix(position_features(positions[split])))
        return hstack(blocks).tocsr() if len(blocks) > 1 else blocks[0]

    vectorisers = [_tfidf().fit(texts["train"])]
    if questions:
        vectorisers.append(_tfidf().fit(questions["train"]))
    x_train, x_val, x_test = (features(vectorisers, split) for split in ("train", "val", "test"))
    best = None
    for c in c_grid:
        model = LogisticRegression(C=c, max_iter=5000, random_state=seed).fit(x_train, labels["train"])
        val_acc = float((model.predict(x_val) == labels["val"]).mean())
        if best is None or val_acc > best[0]:
            best = (val_acc, c, model)
    val_acc, c, model = best
    result = scores(labels["test"], model.predict(x_test), label_names, groups=groups)
    result.update({"C": c, "val_acc": val_acc, "n_features": int(x_train.shape[1])})
    return result


def tfidf_position_logreg(data, c_grid: Sequence[float] = (0.1, 1.0, 10.0, 100.0), seed: int = 0) -> dict:
    """Section labelling's two TF-IDF baselines on a loaded `TextSplits` (e.g. pubmedqa-sections or an RCT
    corpus): {"tfidf": without, "tfidf_position": with the position features passage-bilstm sees}, each scored on
    test with document-bootstrap intervals."""
    from meddl.data.batching import passage_positions

    splits = ("train", "val", "test")
    positions = {split: passage_positions(data, split) for split in splits}
    common = dict(texts=data.texts, labels=data.labels, label_names=data.info.labels, c_grid=c_grid,
                  groups=data.groups.get("test"), seed=seed)
    return {"tfidf": tfidf_logreg(**common), "tfidf_position": tfidf_logreg(**common, positions=positions)}


def beat_features(signals: np.ndarray, extra: np.ndarray | None, points: int = 32) -> np.ndarray:
    """Each lead's beat window averaged into `points` bins (a downsampled beat), then the RR features if any."""
    n, leads, length = signals.shape
    usable = length - length % points
    binned = signals[:, :, :usable].reshape(n, leads, points, usable // points).mean(axis=3).reshape(n, -1)
    return binned if extra is None or extra.size == 0 else np.hstack([binned, extra])


def ecg_logreg(
    signals: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    label_names: Sequence[str],
    extra: dict[str, np.ndarray] | None = None,
    scored: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    seed: int = 0,
) -> dict:
    """Class-balanced logistic regression on standardised beat features, fitted on train+val (DS1), scored on test.

    Validation beats come from DS1 records too, and a linear model has nothing to select on them, so they are
    training data here: the baseline sees exactly the records meddl may learn from, and none of DS2.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    extra = extra or {}
    fit_splits = [split for split in ("train", "val") if split in signals and len(labels[split])]
    x_fit = np.vstack([beat_features(signals[s], extra.get(s)) for s in fit_splits])
    y_fit = np.concatenate([labels[s] for s in fit_splits])
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000,
                                                               random_state=seed))
    model.fit(x_fit, y_fit)
    predictions = model.predict(beat_features(signals["test"], extra.get("test")))
    result = scores(labels["test"], predictions, label_names, scored=scored, groups=groups)
    result["n_train"] = int(len(y_fit))
    result["n_features"] = int(x_fit.shape[1])
    return result


def macro_f1_from_se_ppv(se: dict, ppv: dict, classes: Sequence[str]) -> float | None:
    """Macro-F1 over `classes` from per-class Se and +P (F1 = 2 Se P / (Se + P)); None when any value is missing."""
    f1s = []
    for name in classes:
        s, p = se.get(name), ppv.get(name)
        if s is None or p is None:
            return None
        f1s.append(0.0 if s + p == 0 else 2 * s * p / (s + p))
    return float(np.mean(f1s))


class KneserNeyLM:
    """Interpolated Kneser-Ney n-gram model over integer token ids (Chen & Goodman 1999), default a trigram.

    Hand-written with dicts and numpy because nltk.lm evaluates one Python call chain per probability and is far
    too slow for the few hundred thousand tokens here. The highest order uses raw counts, lower orders continuation
    counts (in how many distinct contexts a word follows), one absolute discount per order D = n1 / (n1 + 2 n2),
    and the recursion ends in a uniform distribution over `vocab_size` ids, so every id (unknown-word id included)
    keeps a non-zero probability and each conditional distribution sums to one over the vocabulary.

    Each stream's first token is context only (as for an LSTM, whose targets are tokens 1..n); positions before the
    stream's start are a padding id (-1) outside the vocabulary.
    """

    PAD = -1

    def __init__(self, vocab_size: int, order: int = 3):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.vocab_size, self.order = vocab_size, order

    def _ngrams(self, stream: Sequence[int]):
        padded = [self.PAD] * (self.order - 1) + [int(t) for t in stream]
        for i in range(self.order, len(padded)):
            yield tuple(padded[i - self.order + 1:i + 1])

    def fit(self, streams: Sequence[Sequence[int]]) -> "KneserNeyLM":
        top = Counter(gram for stream in streams for gram in self._ngrams(stream))
        # counts[k]: n-grams of length k+1; the top order raw, lower orders continuation counts.
        counts: list[Counter] = [Counter() for _ in range(self.order)]
        counts[-1] = top
        for k in range(self.order - 1, 0, -1):
            for gram in counts[k]:
                counts[k - 1][gram[1:]] += 1
        self._counts = counts
        self._discount = [self._estimate_discount(c) for c in counts]
        # Per context: total count and number of distinct followers, for the interpolation weight.
        self._context_total: list[dict] = []
        self._context_types: list[dict] = []
        for c in counts:
            total, types = defaultdict(int), defaultdict(int)
            for gram, value in c.items():
                total[gram[:-1]] += value
                types[gram[:-1]] += 1
            self._context_total.append(dict(total))
            self._context_types.append(dict(types))
        unigram = np.zeros(self.vocab_size)
        for (word,), value in counts[0].items():
            unigram[word] = value
        d, total = self._discount[0], unigram.sum()
        self._p1 = (np.maximum(unigram - d, 0) + d * np.count_nonzero(unigram) / self.vocab_size) / total
        return self

    @staticmethod
    def _estimate_discount(counter: Counter) -> float:
        histogram = Counter(v for v in counter.values() if v <= 2)
        n1, n2 = histogram[1], histogram[2]
        return n1 / (n1 + 2 * n2) if n1 and n2 else 0.75

    def prob(self, context: Sequence[int], word: int) -> float:
        """P(word | the last order-1 ids of context); a shorter context is padded on the left."""
        context = tuple([self.PAD] * (self.order - 1) + [int(t) for t in context])[len(context):]
        p = float(self._p1[word])
        for k in range(1, self.order):
            history = context[self.order - 1 - k:]
            total = self._context_total[k].get(history)
            if not total:
                continue
            d = self._discount[k]
            p = (max(self._counts[k].get(history + (int(word),), 0) - d, 0)
                 + d * self._context_types[k][history] * p) / total
        return p

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """The whole conditional distribution over the vocabulary (for checks; `prob` is the fast path)."""
        return np.array([self.prob(context, w) for w in range(self.vocab_size)])

    def cross_entropy(self, streams: Sequence[Sequence[int]]) -> tuple[float, int]:
        """Mean negative log-likelihood (nats) per predicted token, and the number of tokens predicted."""
        total, n = 0.0, 0
        for stream in streams:
            for gram in self._ngrams(stream):
                total -= math.log(self.prob(gram[:-1], gram[-1]))
                n += 1
        return (total / n if n else float("nan")), n

    def perplexity(self, streams: Sequence[Sequence[int]]) -> float:
        return math.exp(self.cross_entropy(streams)[0])
