"""Failures of the machine rather than of meddl reach the user as one line naming the file: a folder that cannot be
created, a full disk while a checkpoint is written (nothing half-written is left)."""

from __future__ import annotations

import shutil
from collections import namedtuple

import torch

from meddl.cli import main


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path, capsys, medmnist_env):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["train", "breastmnist", "--epochs", "1", "--output-dir", str(blocker / "run")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error and "unexpected error" not in error
    assert error.startswith("meddl: error: ") and str(blocker) in error


def test_a_full_disk_while_saving_a_checkpoint_is_named_and_leaves_nothing(tmp_path, capsys, monkeypatch,
                                                                           medmnist_env):
    def failing_save(contents, path, *args, **kwargs):
        with open(path, "wb") as handle:  # torch leaves a partial file behind when the disk fills
            handle.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", failing_save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 30, 10 << 30, 1 << 20))
    code = main(["train", "breastmnist", "--epochs", "1", "--output-dir", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error and "disk full" in error and ".ckpt" in error
    assert not [p for p in (tmp_path / "run" / "checkpoints").glob("*")]  # no partial or temporary file
