"""`meddl train --print-config` writes every resolved train option as typed YAML; `--config FILE` reads it back
(flags override it) and trains exactly the run the flags described; a wrong key or type is a one-line error."""

from __future__ import annotations

import json

import pytest
import yaml

from meddl.cli import main

FLAGS = ["--epochs", "1", "--batch-size", "64", "--bootstrap", "20", "--lr", "0.002", "--optimizer", "adam",
         "--class-weights", "--no-augment"]


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def test_print_config_round_trips_and_trains_the_same_run(medmnist_env, tmp_path, capsys):
    assert run_cli("train", "breastmnist", *FLAGS, "--print-config") == 0
    printed = capsys.readouterr().out
    options = yaml.safe_load(printed)
    assert options["epochs"] == 1 and options["lr"] == 0.002 and options["augment"] is False
    assert options["class_weights"] is True and options["model"] == "fast-cnn" and options["milestones"] == []
    assert not (tmp_path / "runs").exists()  # printing trains nothing
    saved = tmp_path / "run.yaml"
    saved.write_text(printed)
    assert run_cli("train", "--config", saved, "--print-config") == 0
    assert capsys.readouterr().out == printed
    assert run_cli("train", "--config", saved, "--epochs", "3", "--preset", "medmnist-v2", "--print-config") == 0
    overridden = yaml.safe_load(capsys.readouterr().out)
    assert overridden["epochs"] == 3 and overridden["preset"] == "medmnist-v2"
    assert overridden["lr"] == 0.002  # the file's values stay where no flag overrides them

    assert run_cli("train", "breastmnist", *FLAGS, "--output-dir", tmp_path / "flags") == 0
    assert run_cli("train", "--config", saved, "--output-dir", tmp_path / "file") == 0
    by_flags, by_file = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("flags", "file"))
    assert by_flags["config"] == by_file["config"] == options
    assert by_flags["test"]["auc"] == by_file["test"]["auc"]  # the same seeded run


@pytest.mark.parametrize("text, message", [
    ("dataset: breastmnist\nepoch: 3\n", "unknown key 'epoch' (did you mean epochs?)"),
    ("dataset: breastmnist\nepochs: ten\n", "epochs: expected an integer, got 'ten' (a string)"),
    ("dataset: breastmnist\nmilestones: 50\n", "milestones: expected a list of integers, got 50 (an integer)"),
    ("dataset: breastmnist\npatience: [1]\n", "patience: expected an integer or null, got [1] (a list)"),
    ("- breastmnist\n", "expected a mapping of train options"),
    ("epochs: 2\n", "give a DATASET, or a --config file that names one"),
])
def test_a_wrong_config_file_is_one_line_naming_the_key(tmp_path, capsys, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    assert run_cli("train", "--config", path, "--print-config") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("meddl: error:") and message in err and "\n" not in err
