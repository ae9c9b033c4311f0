"""Opening a model file never runs code: a checkpoint carrying a pickle payload is refused, in one line naming the
file and what it holds, by every command that opens one; `--trust` opens a trusted file in full."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from meddl.cli import main
from meddl.tasks import get_task
from meddl.tasks.runner import train_on


class Payload:
    """What an attacker puts into a checkpoint: unpickling it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def hostile(tmp_path):
    marker = tmp_path / "payload-ran"
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    checkpoint = run / "last.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"model": Payload(marker)}}, checkpoint)
    image = tmp_path / "scan.png"
    Image.fromarray(np.full((28, 28), 90, dtype=np.uint8)).save(image)
    return checkpoint, marker, image


def _commands(checkpoint, image, tmp_path):
    return {
        "predict": ["predict", str(checkpoint), str(image)],
        "evaluate": ["evaluate", str(checkpoint)],
        "export": ["export", str(checkpoint), "--output", str(tmp_path / "out.onnx")],
        "explain": ["explain", str(checkpoint), str(image), "--output-dir", str(tmp_path / "why")],
        "serve": ["serve", str(checkpoint), "--port", "0"],
        "generate": ["generate", str(checkpoint), "--prompt", "the"],
        "gan sample": ["gan", "sample", str(checkpoint), "--n", "2", "--output-dir", str(tmp_path / "syn")],
        "gan evaluate": ["gan", "evaluate", str(checkpoint), "--output-dir", str(tmp_path / "ev")],
        "train --resume": ["train", "breastmnist", "--output-dir", str(checkpoint.parent.parent), "--resume",
                           "--epochs", "1"],
    }


@pytest.mark.parametrize("verb", ["predict", "evaluate", "export", "explain", "serve", "generate", "gan sample",
                                  "gan evaluate", "train --resume"])
def test_a_payload_checkpoint_is_refused_by_every_command(verb, hostile, tmp_path, capsys, medmnist_env):
    checkpoint, marker, image = hostile
    assert main(_commands(checkpoint, image, tmp_path)[verb]) == 2
    error = capsys.readouterr().err.strip()
    assert not marker.exists(), f"{verb} ran the payload"
    assert "\n" not in error and str(checkpoint) in error and "refused" in error and "posix.system" in error
    assert "--trust" in error


def test_trust_opens_a_trusted_old_style_file(tmp_path, capsys):
    """A checkpoint holding a non-plain object (say, a NumPy scalar an old tool left in it) is refused by default
    and opens with --trust."""
    task = get_task("image")
    data = task.example_data(0)
    run = train_on(task, task.example_config(data.info.name), data, tmp_path / "run", progress=False)
    raw = torch.load(run.checkpoint, weights_only=True)
    raw["note"] = np.float64(0.5)  # not plain data for weights_only loading
    torch.save(raw, tmp_path / "old.ckpt")
    image = tmp_path / "scan.png"
    Image.fromarray(data.images["test"][0, ..., 0]).save(image)
    assert main(["predict", str(tmp_path / "old.ckpt"), str(image)]) == 2
    assert "refused" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "old.ckpt"), str(image), "--trust"]) == 0
    assert str(image) in capsys.readouterr().out
