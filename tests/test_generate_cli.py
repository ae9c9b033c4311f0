"""`meddl generate` end to end: a tiny language model trained on real abstracts, sampled through the CLI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from helpers import SHARED_MEDMNIST

from meddl.cli import main
from meddl.training.config import make_config
from meddl.tasks import task_for
from meddl.tasks.runner import train_on

SHARED = SHARED_MEDMNIST.parent


def _train_tiny_lm(root: Path, level: str) -> Path:
    """One epoch on a few PubMedQA abstracts (word or character tokens); returns the best checkpoint."""
    from meddl.data import load_dataset

    if not (SHARED / "pubmedqa" / "ori_pqal.json").is_file():
        pytest.skip(f"shared PubMedQA data not found under {SHARED}")
    data = load_dataset("pubmedqa-lm", data_dir=SHARED, options={"tokenizer": level, "max_tokens": 32})
    sizes = {"train": 12 if level == "word" else 4, "val": 2, "test": 2}
    data = replace(data, texts={s: data.texts[s][:n] for s, n in sizes.items()},
                   groups={s: data.groups[s][:n] for s, n in sizes.items()})
    config = make_config("pubmedqa-lm", preset="lm", epochs=1, batch_size=16, bootstrap=0)
    return train_on(task_for(data.info), config, data, root / level, progress=False).checkpoint


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lm")
    return {level: _train_tiny_lm(root, level) for level in ("word", "char")}


def _generate(capsys, checkpoint: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["generate", str(checkpoint), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_same_seed_gives_the_same_text(checkpoints, capsys):
    args = ("--prompt", "the patients", "--max-tokens", "12", "--temperature", "1.5", "--seed", "7")
    code, first, _ = _generate(capsys, checkpoints["word"], *args)
    assert code == 0 and first.startswith("the patients") and len(first.split()) > 2
    assert _generate(capsys, checkpoints["word"], *args)[1] == first
    others = {_generate(capsys, checkpoints["word"], *args[:-1], str(seed))[1] for seed in range(4)}
    assert len(others | {first}) > 1  # the seed matters


def test_top_k_one_is_greedy_and_ignores_the_seed(checkpoints, capsys):
    args = ("--prompt", "results", "--max-tokens", "8", "--top-k", "1")
    assert _generate(capsys, checkpoints["char"], *args, "--seed", "1")[1] == \
        _generate(capsys, checkpoints["char"], *args, "--seed", "2")[1]


@pytest.mark.parametrize("extra, message", [
    (("--prompt", "the patients", "--max-tokens", "0"), "max_tokens"),
    (("--prompt", "the patients", "--temperature", "0"), "temperature"),
    (("--prompt", "   "), "prompt is empty"),
])
def test_bad_sampling_arguments_exit_2_with_one_line(checkpoints, capsys, extra, message):
    code, out, err = _generate(capsys, checkpoints["word"], *extra)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_prompt_with_characters_a_char_model_never_saw_is_refused(checkpoints, capsys):
    code, _, err = _generate(capsys, checkpoints["char"], "--prompt", "patients ☃ß€")
    assert code == 2 and "☃" in err


def test_a_classifier_or_missing_checkpoint_is_not_a_language_model(tmp_path, capsys):
    import torch

    hparams = {"model": "fast-cnn", "task": "binary", "labels": ["a", "b"], "in_channels": 1, "image_size": 28}
    torch.save({"hyper_parameters": hparams, "state_dict": {}}, tmp_path / "image.ckpt")
    code, _, err = _generate(capsys, tmp_path / "image.ckpt", "--prompt", "x")
    assert code == 2 and "holds an image classifier; meddl generate takes a language model" in err
    code, _, err = _generate(capsys, tmp_path / "missing.ckpt", "--prompt", "x")
    assert code == 2 and "not found" in err


def test_datasets_lists_the_kind_of_each_set(capsys):
    assert main(["datasets"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:] if line.strip()}
    assert rows["mitdb"][1] == "ecg" and rows["pubmedqa-lm"][1:4] == ["text", "language-model", "-"]
    assert rows["pneumoniamnist"][1] == "image"
