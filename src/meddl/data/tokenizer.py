"""Text to token ids and back: a word-level or character-level vocabulary, built on the training split only.

The vocabulary travels inside the checkpoint (`to_dict`), so a model is always read with the tokens it was trained
on. Text is normalised before tokenising: lower-cased, whitespace runs folded to one space. Word level splits
numbers (3.5, 1,000), words (with inner hyphens and apostrophes: well-being, patient's) and single punctuation marks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from meddl.errors import ConfigError, DataError

Level = Literal["word", "char"]
LEVELS: tuple[str, ...] = ("word", "char")
SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")
_WORD = re.compile(r"\d+(?:[.,]\d+)+|\w+(?:[-'’]\w+)*|[^\w\s]")
# Decoding words: no space before closing marks, none after opening ones.
_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")


def normalise(text: str) -> str:
    """Lower-cased, with every whitespace run folded to one space: what the tokenizer actually sees."""
    return " ".join(text.lower().split())


def split_tokens(text: str, level: Level) -> list[str]:
    """The tokens of `text` at `level`, before they are looked up in a vocabulary."""
    text = normalise(text)
    return _WORD.findall(text) if level == "word" else list(text)


class Tokenizer:
    """A fixed vocabulary: ids 0-3 are <pad>, <unk>, <bos>, <eos>, then tokens by falling training frequency."""

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, tokens: list[str], level: Level) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS or len(set(tokens)) != len(tokens):
            raise DataError(f"tokenizer vocabulary must start with {', '.join(SPECIALS)} and hold no duplicates")
        self.level: Level = level
        self.tokens = list(tokens)
        self._ids = {token: index for index, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], level: Level = "word", min_freq: int = 2, max_size: int = 20000) -> Tokenizer:
        """Count the tokens of `texts` (the training split only) and keep those seen `min_freq` times or more,
        the most frequent first (ties alphabetically, so the vocabulary is reproducible), up to `max_size` ids
        in all, the four special tokens included."""
        if level not in LEVELS:
            raise ConfigError(f"tokenizer {level!r}: expected one of {', '.join(LEVELS)}")
        if min_freq < 1:
            raise ConfigError(f"min_freq {min_freq}: expected an integer >= 1")
        if max_size <= len(SPECIALS):
            raise ConfigError(f"max_vocab {max_size}: expected more than the {len(SPECIALS)} special tokens")
        counts = Counter(token for text in texts for token in split_tokens(text, level))
        if not counts:
            raise DataError("no text to build a vocabulary from: the training split is empty")
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        return cls(list(SPECIALS) + kept[: max_size - len(SPECIALS)], level)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, strict: bool = False) -> list[int]:
        """Token ids of `text`, without <bos>/<eos>; unknown tokens become <unk>, or with `strict` raise a
        DataError that lists them (a generation prompt must be made of known characters)."""
        pieces = split_tokens(text, self.level)
        if strict:
            unknown = sorted({piece for piece in pieces if piece not in self._ids})
            if unknown:
                kind = "characters" if self.level == "char" else "words"
                raise DataError(
                    f"unknown {kind} {', '.join(map(repr, unknown))}: not in the {self.vocab_size}-token vocabulary "
                    "of the training text"
                )
        return [self._ids.get(piece, self.unk_id) for piece in pieces]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`: <pad>, <bos> and <eos> are left out, unknown tokens read <unk>."""
        skipped = (self.pad_id, self.bos_id, self.eos_id)
        pieces = [self.tokens[i] for i in map(int, ids) if i not in skipped]
        if self.level == "char":
            return "".join(pieces)
        return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", " ".join(pieces)))

    def to_dict(self) -> dict:
        """A JSON-able description, stored in a checkpoint's hyper-parameters."""
        return {"level": self.level, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list) or data.get("level") not in LEVELS:
            raise DataError(
                f"tokenizer description must be a dict with 'level' ({' or '.join(LEVELS)}) and a 'tokens' list, "
                "as written by to_dict"
            )
        return cls([str(token) for token in data["tokens"]], data["level"])

    def __repr__(self) -> str:
        return f"Tokenizer(level={self.level!r}, vocab_size={self.vocab_size})"
