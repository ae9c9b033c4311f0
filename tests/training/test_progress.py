"""Training output in a log file: one plain line per epoch instead of a redrawn bar (no carriage returns), and
nothing but the summary with --quiet. The runs are real `meddl train` processes with stdout and stderr in files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QUICK = ["--epochs", "2", "--batch-size", "64", "--bootstrap", "20"]


def _train_into_files(tmp_path: Path, data_dir: Path, *extra: str) -> tuple[str, str]:
    """(stdout, stderr) of `meddl train breastmnist` with both redirected to files, as a batch job runs it."""
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    env = {**os.environ, "MEDDL_DATA_DIR": str(data_dir)}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        done = subprocess.run([str(Path(sys.executable).parent / "meddl"), "train", "breastmnist", *QUICK,
                               "--output-dir", str(tmp_path / "run"), *extra],
                              stdout=stdout, stderr=stderr, env=env, cwd=tmp_path, timeout=300)
    stdout_bytes, stderr_bytes = out.read_bytes(), err.read_bytes()
    assert done.returncode == 0, stderr_bytes.decode()
    assert b"\r" not in stdout_bytes and b"\r" not in stderr_bytes
    return stdout_bytes.decode(), stderr_bytes.decode()


def test_a_run_logged_to_a_file_prints_one_plain_line_per_epoch(shared_medmnist, tmp_path):
    stdout, stderr = _train_into_files(tmp_path, shared_medmnist)
    epochs = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    for line in epochs:
        words = line.split()
        assert words[2] == "train_loss" and {"val_auc", "val_acc", "val_loss"} <= set(words)
        assert words[-1] == "s" and float(words[-2]) > 0  # elapsed seconds
        assert "val_selection" not in line
    assert "test AUC" in stdout and "━" not in stdout + stderr  # the summary, and no bar drawn anyway


def test_quiet_prints_the_summary_only(shared_medmnist, tmp_path):
    stdout, stderr = _train_into_files(tmp_path, shared_medmnist, "--quiet")
    assert not [line for line in stdout.splitlines() if line.startswith("epoch")]
    assert stdout.splitlines()[0].startswith("test AUC") and stderr == ""
