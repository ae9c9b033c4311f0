"""The tokenizer: round trips, vocabulary from the training split only, strict encoding, saving in checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meddl.data import load_dataset
from meddl.data.tokenizer import SPECIALS, Tokenizer, normalise, split_tokens
from meddl.errors import ConfigError, DataError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SENTENCES = [
    "The   mortality rate was 3.5% (p < 0.05) in 1,000 patients.",
    "Patients' well-being improved; quality-of-life scores rose by 12 points.",
    "Conclusion: aspirin reduced the 30-day mortality [OR 0.8, 95% CI 0.7-0.9].",
]


def test_word_level_splits_numbers_words_and_punctuation():
    assert split_tokens(SENTENCES[0], "word") == ["the", "mortality", "rate", "was", "3.5", "%", "(", "p", "<", "0.05",
                                                  ")", "in", "1,000", "patients", "."]
    assert "well-being" in split_tokens(SENTENCES[1], "word")


@pytest.mark.parametrize("text", SENTENCES)
def test_word_round_trip_on_normalised_text(text):
    tokenizer = Tokenizer.build(SENTENCES, "word", min_freq=1)
    decoded = tokenizer.decode(tokenizer.encode(text))
    assert split_tokens(decoded, "word") == split_tokens(text, "word")  # same tokens after a round trip
    assert tokenizer.encode(decoded) == tokenizer.encode(text)
    assert tokenizer.unk_id not in tokenizer.encode(text)
    assert tokenizer.decode(tokenizer.encode(SENTENCES[0])) == "the mortality rate was 3.5% (p < 0.05) in 1,000 patients."


@pytest.mark.parametrize("text", SENTENCES)
def test_char_round_trip_is_exact(text):
    tokenizer = Tokenizer.build(SENTENCES, "char", min_freq=1)
    assert tokenizer.decode(tokenizer.encode(text)) == normalise(text)
    assert len(tokenizer.encode(text)) == len(normalise(text))


def test_vocabulary_order_min_freq_and_max_size():
    tokenizer = Tokenizer.build(["b a a c c c", "d"], "word", min_freq=2)
    assert tokenizer.tokens == [*SPECIALS, "c", "a"]
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id) == (0, 1, 2, 3)
    assert Tokenizer.build(["b a a c c c", "d"], "word", min_freq=1, max_size=6).tokens == [*SPECIALS, "c", "a"]
    assert tokenizer.encode("b c") == [tokenizer.unk_id, 4]
    assert tokenizer.decode([tokenizer.bos_id, 4, 1, tokenizer.eos_id, 0]) == "c <unk>"


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    folder = tmp_path / "rct"
    folder.mkdir()
    for name, extra in (("train.txt", "aspirin"), ("dev.txt", "heparin"), ("test.txt", "warfarin")):
        (folder / name).write_text(f"###1\nMETHODS\tpatients took {extra}.\nRESULTS\tpatients took {extra}.\n")
    data = load_dataset(str(folder))
    tokenizer = Tokenizer.build(data.texts["train"], "word", min_freq=1)
    assert tokenizer.unk_id not in tokenizer.encode(data.texts["train"][0])
    assert tokenizer.encode(data.texts["test"][0]) == tokenizer.encode("patients took") + [tokenizer.unk_id] + \
        tokenizer.encode(".")


def test_real_test_only_words_map_to_unk():
    if not (SHARED_DATA / "pubmedqa" / "ori_pqal.json").is_file():
        pytest.skip("shared PubMedQA data not found")
    data = load_dataset("pubmedqa-lm", data_dir=SHARED_DATA)
    tokenizer = Tokenizer.build(data.texts["train"], "word", min_freq=2)
    train_words = {w for t in data.texts["train"] for w in split_tokens(t, "word")}
    test_only = sorted({w for t in data.texts["test"] for w in split_tokens(t, "word")} - train_words)
    assert len(test_only) > 100
    assert {tokenizer.encode(word)[0] for word in test_only[:50]} == {tokenizer.unk_id}


def test_strict_encoding_lists_unknown_characters_or_words():
    chars = Tokenizer.build(["abc abc"], "char", min_freq=1)
    with pytest.raises(DataError, match=r"unknown characters 'x', 'z'"):
        chars.encode("Zax", strict=True)
    words = Tokenizer.build(["the cat sat"], "word", min_freq=1)
    with pytest.raises(DataError, match=r"unknown words 'dog'"):
        words.encode("the dog", strict=True)
    assert words.encode("The CAT", strict=True) == words.encode("the cat")


def test_to_dict_survives_json_and_rejects_garbage():
    tokenizer = Tokenizer.build(SENTENCES, "word", min_freq=1)
    again = Tokenizer.from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    assert again.tokens == tokenizer.tokens and again.level == "word"
    assert again.encode(SENTENCES[2]) == tokenizer.encode(SENTENCES[2])
    for bad in ({"level": "word"}, {"level": "bpe", "tokens": list(SPECIALS)}, {"level": "char", "tokens": ["a"]}):
        with pytest.raises(DataError):
            Tokenizer.from_dict(bad)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [({"level": "bpe"}, ConfigError, "bpe"), ({"min_freq": 0}, ConfigError, "min_freq"),
     ({"max_size": 4}, ConfigError, "max_vocab"), ({"texts": []}, DataError, "training split is empty")],
)
def test_build_rejects_bad_settings(kwargs, error, message):
    arguments = {"texts": SENTENCES, **kwargs}
    with pytest.raises(error, match=message):
        Tokenizer.build(**arguments)
