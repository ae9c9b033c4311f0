"""Batches for sequence models: ECG beats, tokenised text (single passages, question + context pairs, or whole
abstracts of passages) and language-model chunks.

Everything is in memory; each dataset's `__getitems__` returns a whole batch as a dict of tensors, so the shared
`make_loader` (seeded per epoch, hence a resumed run sees the same order) serves them unchanged. Text is padded per
batch, to the longest sample in it, not to a global length.

Language modelling: each text becomes `bos tokens eos`, all texts of a split are joined into one stream, and the
stream is cut into chunks of `seq_len + 1` tokens that overlap by one (inputs are tokens 0..L-1, targets 1..L). So
every token of the stream after the first is a target exactly once, and test perplexity is exp of the mean
cross-entropy over all test tokens, `<unk>` included: the vocabulary comes from the training split only, so a
test word outside it is predicted as `<unk>`, as a count-based baseline with the same vocabulary would see it.
The model's state starts afresh in each chunk (the context is at most `seq_len` tokens).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from meddl.data.tensors import make_loader
from meddl.data.types import SignalSplits, TextSplits
from meddl.errors import DataError

EVAL_BATCH = 256


class SignalDataset(Dataset):
    """ECG beats (N, leads, T) float32 with optional per-beat features (N, F) and labels (N,)."""

    def __init__(self, signals: np.ndarray, labels: np.ndarray, features: np.ndarray | None = None):
        self.signals = torch.from_numpy(np.ascontiguousarray(signals, dtype=np.float32))
        self.labels = torch.from_numpy(np.asarray(labels).astype(np.int64))
        self.features = None if features is None else torch.from_numpy(np.ascontiguousarray(features, np.float32))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: Sequence[int]) -> dict:
        index = torch.as_tensor(indices, dtype=torch.long)
        features = None if self.features is None else self.features[index]
        return {"signals": self.signals[index], "features": features, "labels": self.labels[index]}


def _pad(sequences: list[torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True, padding_value=pad_id), lengths


class TokenDataset(Dataset):
    """Encoded passages (and, for question answering, encoded questions) with labels, padded per batch."""

    def __init__(self, tokens: list[torch.Tensor], labels: np.ndarray, pad_id: int,
                 questions: list[torch.Tensor] | None = None):
        self.tokens, self.questions, self.pad_id = tokens, questions, pad_id
        self.labels = torch.from_numpy(np.asarray(labels).astype(np.int64))

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitems__(self, indices: Sequence[int]) -> dict:
        tokens, lengths = _pad([self.tokens[i] for i in indices], self.pad_id)
        batch = {"tokens": tokens, "lengths": lengths, "labels": self.labels[torch.as_tensor(indices)]}
        if self.questions is not None:
            batch["question"], batch["question_lengths"] = _pad([self.questions[i] for i in indices], self.pad_id)
        return batch


def passage_positions(data: TextSplits, split: str) -> np.ndarray:
    """(N, 2) int64 index and count of each sample in its document: the loader's own (`TextSplits.positions`),
    else the order of `groups` (each sample its own document when there are no groups)."""
    known = data.positions.get(split)
    if known is not None and len(known) == len(data.texts[split]):
        return np.asarray(known, dtype=np.int64)
    groups = data.groups.get(split) or [str(i) for i in range(len(data.texts[split]))]
    seen: Counter = Counter()
    index = []
    for group in groups:
        index.append(seen[group])
        seen[group] += 1
    return np.asarray([(i, seen[g]) for i, g in zip(index, groups)], dtype=np.int64).reshape(-1, 2)


POSITION_FEATURES = ("relative", "first", "second", "last", "second_last")


def position_features(positions: np.ndarray) -> np.ndarray:
    """(N, 5) float32 features of each passage's place in its abstract (`POSITION_FEATURES`): relative position in
    [0, 1], and flags for the first two and last two passages, where backgrounds, objectives, results and
    conclusions sit. Only index and count are used, so a user's abstract gives the same features."""
    positions = np.asarray(positions, dtype=np.int64).reshape(-1, 2)
    index, count = positions[:, 0], positions[:, 1]
    if (index < 0).any() or (index >= count).any():
        raise DataError("passage positions must satisfy 0 <= index < count")
    relative = index / np.maximum(count - 1, 1)
    flags = [index == 0, index == 1, index == count - 1, index == count - 2]
    return np.column_stack([relative, *flags]).astype(np.float32)


class DocumentDataset(Dataset):
    """Whole documents (abstracts) of encoded passages: item i is document i, its passages in the split's order.

    A batch is a set of documents, flattened passage by passage: `tokens`/`lengths`/`labels`/`positions` have
    one row per passage, `documents` (P,) says which of the batch's documents each row belongs to (rows of one
    document are contiguous and in order), and `rows` (P,) is each row's index in the split, so predictions can be
    put back in the split's order however the documents were shuffled.
    """

    def __init__(self, tokens: list[torch.Tensor], labels: np.ndarray, pad_id: int, groups: Sequence[str],
                 positions: np.ndarray):
        if not len(groups) == len(tokens) == len(positions):
            raise DataError(f"{len(tokens)} passages but {len(groups)} groups and {len(positions)} positions")
        self.tokens, self.pad_id = tokens, pad_id
        self.labels = torch.from_numpy(np.asarray(labels).astype(np.int64))
        self.features = torch.from_numpy(position_features(positions))
        members: dict[str, list[int]] = {}
        for row, group in enumerate(groups):
            members.setdefault(group, []).append(row)
        self.documents = [torch.tensor(rows, dtype=torch.long) for rows in members.values()]

    def __len__(self) -> int:
        return len(self.documents)

    def __getitems__(self, indices: Sequence[int]) -> dict:
        parts = [self.documents[i] for i in indices]
        rows = torch.cat(parts)
        tokens, lengths = _pad([self.tokens[i] for i in rows.tolist()], self.pad_id)
        documents = torch.repeat_interleave(torch.arange(len(parts)), torch.tensor([len(p) for p in parts]))
        return {"tokens": tokens, "lengths": lengths, "labels": self.labels[rows], "positions": self.features[rows],
                "documents": documents, "rows": rows}


class ChunkDataset(Dataset):
    """A token stream cut into (inputs, targets) chunks of `seq_len`; the last chunk's tail is padding, which the
    loss ignores (targets equal to `pad_id`)."""

    def __init__(self, stream: torch.Tensor, seq_len: int, pad_id: int):
        n_chunks = max(1, -(-(len(stream) - 1) // seq_len))
        padded = torch.full((n_chunks * seq_len + 1,), pad_id, dtype=torch.long)
        padded[: len(stream)] = stream
        starts = torch.arange(n_chunks) * seq_len
        self.chunks = padded[starts[:, None] + torch.arange(seq_len + 1)]

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitems__(self, indices: Sequence[int]) -> dict:
        chunk = self.chunks[torch.as_tensor(indices, dtype=torch.long)]
        return {"tokens": chunk[:, :-1], "targets": chunk[:, 1:]}


def build_tokenizer(data: TextSplits):
    """The tokenizer of a run, built on the training texts only (questions too, for question answering), so no
    word of the validation or test split leaks into the vocabulary."""
    from meddl.data.tokenizer import Tokenizer

    options = data.options
    texts = list(data.texts["train"]) + list(data.questions.get("train", []))
    if not texts:
        raise DataError(f"{data.info.name}: the training split holds no text to build a vocabulary from")
    return Tokenizer.build(texts, level=options.tokenizer, min_freq=options.min_freq,
                           max_size=options.max_vocab)


def encode(tokenizer, texts: list[str], max_tokens: int) -> list[torch.Tensor]:
    """Token ids per text, truncated to `max_tokens`; an empty text becomes one `<unk>` (a sequence model needs at
    least one step)."""
    encoded = []
    for text in texts:
        ids = tokenizer.encode(text)[:max_tokens] or [tokenizer.unk_id]
        encoded.append(torch.tensor(ids, dtype=torch.long))
    return encoded


def token_stream(tokenizer, texts: list[str]) -> torch.Tensor:
    """One stream of `bos text eos` for every text, in order."""
    ids: list[int] = []
    for text in texts:
        ids += [tokenizer.bos_id, *tokenizer.encode(text), tokenizer.eos_id]
    return torch.tensor(ids, dtype=torch.long)


def signal_dataset(data: SignalSplits, split: str) -> SignalDataset:
    return SignalDataset(data.signals[split], data.labels[split], data.features.get(split))


def text_dataset(data: TextSplits, split: str, tokenizer, max_tokens: int) -> TokenDataset:
    questions = data.questions.get(split)
    return TokenDataset(encode(tokenizer, data.texts[split], max_tokens), data.labels[split], tokenizer.pad_id,
                        encode(tokenizer, questions, max_tokens) if questions else None)


def document_dataset(data: TextSplits, split: str, tokenizer, max_tokens: int) -> DocumentDataset:
    groups = data.groups.get(split) or [str(i) for i in range(len(data.texts[split]))]
    return DocumentDataset(encode(tokenizer, data.texts[split], max_tokens), data.labels[split], tokenizer.pad_id,
                           groups, passage_positions(data, split))


def chunk_dataset(data: TextSplits, split: str, tokenizer, seq_len: int) -> ChunkDataset:
    return ChunkDataset(token_stream(tokenizer, data.texts[split]), seq_len, tokenizer.pad_id)


def loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0) -> DataLoader:
    """Training loaders shuffle with a (seed, epoch) permutation; evaluation loaders keep the order."""
    return make_loader(dataset, batch_size if shuffle else max(batch_size, EVAL_BATCH), shuffle=shuffle, seed=seed,
                       num_workers=num_workers)
