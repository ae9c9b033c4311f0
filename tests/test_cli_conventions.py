"""Small conventions of the front door: `python -m meddl`, "did you mean" for a mistyped dataset, model or
option, and the warning when a network made for 224-px images is trained on 28-px ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meddl.cli import QUIET, build_parser, main
from meddl.errors import ConfigError, DataError

MEDDL = Path(sys.executable).parent / "meddl"


def test_python_dash_m_meddl_is_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "meddl", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("usage: meddl")
    assert "train" in done.stdout and "datasets" in done.stdout
    done = subprocess.run([sys.executable, "-m", "meddl", "train", "no-such-set"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("meddl: error: unknown dataset 'no-such-set'")


@pytest.mark.parametrize("args, message", [
    (["train", "pneumonaimnist"], "unknown dataset 'pneumonaimnist': did you mean pneumoniamnist?"),
    (["train", "breastmnist", "--model", "resnet81"], "unknown model 'resnet81': did you mean resnet18?"),
    (["train", "breastmnist", "--logger", "mlfow"], "unknown logger 'mlfow': did you mean mlflow?"),
])
def test_a_mistyped_name_is_one_line_with_the_closest_names(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("meddl: error:") and message in err and "\n" not in err
    assert not (tmp_path / "runs").exists()  # refused before anything is loaded or written


def test_the_python_api_suggests_too():
    from meddl.data import load_dataset
    from meddl.models import create
    from meddl.training.config import make_config

    with pytest.raises(DataError, match="did you mean bloodmnist"):
        load_dataset("bloodmnst")
    with pytest.raises(ConfigError, match="did you mean densenet121"):
        create("densenet", 1, 2)
    with pytest.raises(ConfigError, match=r"epoch \(did you mean epochs\?\)"):
        make_config("breastmnist", epoch=3)
    with pytest.raises(DataError, match="expected one of adrenalmnist3d, bloodmnist"):  # nothing close: the full list
        load_dataset("zzz")


def test_training_a_224_px_network_on_28_px_images_warns(shared_medmnist, tmp_path):
    env = {**os.environ, "MEDDL_DATA_DIR": str(shared_medmnist)}
    common = ["train", "breastmnist", "--epochs", "1", "--bootstrap", "20", "--batch-size", "64"]
    done = subprocess.run([str(MEDDL), *common, "--model", "resnet18", "--output-dir", str(tmp_path / "big")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("meddl: warning:")]
    assert warnings == ["meddl: warning: resnet18 is designed for 224-px images, not 28-px ones: its 32-fold "
                        "downsampling leaves its last layers almost nothing to look at; train resnet18-28 instead, "
                        "or use larger images (--size 224)"]
    done = subprocess.run([str(MEDDL), *common, "--model", "resnet18-28", "--print-config"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0 and "warning" not in done.stderr  # the 28-px variant is the right choice


def test_the_warning_names_any_224_px_network():
    from meddl.models.registry import size_warning

    assert "densenet121 is designed for 224-px images, not 28-px ones" in size_warning("densenet121", 28)
    assert size_warning("resnet50", 224) is None and size_warning("resnet50", 64) is None
    assert size_warning("fast-cnn", 28) is None


@pytest.mark.parametrize("command", QUIET)
def test_every_command_with_long_work_takes_quiet(command):
    words = {"train": ["breastmnist"], "deid": ["in", "out"], "explain": ["x.ckpt", "a.png"]}.get(command, ["x.ckpt"])
    args = build_parser().parse_args([*command.split(), *words, "--quiet"])
    assert args.quiet is True
