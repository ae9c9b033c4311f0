"""Data-parallel training (DDP, gloo) in two CPU processes against the same run in one process.

Tolerance: the two-process run has the same global batch (2 x 64 against 128) and the same per-epoch permutation,
split between the processes; it differs from the one-process run only in batch-norm statistics (per process: torch
has no CPU SyncBatchNorm), augmentation draws and float summation order. On PneumoniaMNIST after 5 epochs the two
test AUCs agreed to 0.0003 when this test was written; the test allows 0.02 (test AUC) and 0.01 (last val AUC).
"""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

EPOCHS = 5
TRAIN_IMAGES = 4708  # PneumoniaMNIST's training split


def _train(data_dir: Path, output: Path, devices: int, batch_size: int) -> subprocess.CompletedProcess:
    meddl = Path(sys.executable).parent / "meddl"
    command = [str(meddl), "train", "pneumoniamnist", "--data-dir", str(data_dir), "--output-dir", str(output),
               "--epochs", str(EPOCHS), "--accelerator", "cpu", "--devices", str(devices),
               "--batch-size", str(batch_size), "--bootstrap", "200"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _steps_logged(output: Path) -> int:
    """Optimiser steps of the run, from the CSV log (which records the 0-based index of each epoch's last step)."""
    rows = list(csv.DictReader((output / "logs" / "metrics.csv").open()))
    return max(int(row["step"]) for row in rows if row.get("step")) + 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, tuple[Path, subprocess.CompletedProcess]]:
    from helpers import SHARED_MEDMNIST

    if not (SHARED_MEDMNIST / "pneumoniamnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")
    root = tmp_path_factory.mktemp("ddp")
    return {devices: (root / f"devices-{devices}", _train(SHARED_MEDMNIST, root / f"devices-{devices}", devices,
                                                          128 // devices))
            for devices in (1, 2)}


def test_two_processes_match_one_within_tolerance(runs):
    one = json.loads((runs[1][0] / "metrics.json").read_text())
    two = json.loads((runs[2][0] / "metrics.json").read_text())
    assert two["hardware"]["devices"] == 2 and one["hardware"]["devices"] == 1
    assert abs(one["test"]["auc"] - two["test"]["auc"]) < 0.02
    assert abs(one["history"][-1]["val_auc"] - two["history"][-1]["val_auc"]) < 0.01
    assert two["test"]["auc"] > 0.9  # both actually learned


def test_each_process_trains_on_its_own_half(runs):
    # 4708 images in batches of 64: one process alone would take 74 steps an epoch; each of two takes 37
    per_process_batches = math.ceil(math.ceil(TRAIN_IMAGES / 2) / 64)
    assert _steps_logged(runs[2][0]) == EPOCHS * per_process_batches
    assert _steps_logged(runs[1][0]) == EPOCHS * math.ceil(TRAIN_IMAGES / 128)


def test_only_rank_zero_evaluates_and_writes(runs):
    output, done = runs[2]
    assert done.stdout.count("test AUC") == 1  # the worker process returned after training, silently
    names = sorted(path.name for path in output.iterdir())
    assert names == sorted(path.name for path in runs[1][0].iterdir())
    assert sorted(path.name for path in (output / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert "destroy_process_group" not in done.stderr  # torch warns at exit when a group is left open


@pytest.mark.parametrize("variables, worker", [
    ({}, False),
    ({"LOCAL_RANK": "0", "NODE_RANK": "0"}, False),  # Lightning's own launcher, rank 0
    ({"LOCAL_RANK": "1"}, True),
    ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, True),  # first process of the second machine
    ({"RANK": "3", "LOCAL_RANK": "1"}, True),  # torchrun
    ({"SLURM_NTASKS": "8", "SLURM_PROCID": "5"}, True),
    ({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, False),  # an ordinary one-task SLURM job
])
def test_worker_processes_are_recognised_by_their_launcher_variables(monkeypatch, variables, worker):
    from meddl.training.distributed import is_worker_process

    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert is_worker_process(devices=2) is worker
    assert is_worker_process(devices=1) is False  # e.g. one of several independent runs in a SLURM step


def test_a_malformed_rank_variable_is_not_a_crash(monkeypatch):
    from meddl.training.distributed import is_worker_process

    monkeypatch.setenv("RANK", "not-a-number")
    assert is_worker_process(devices=2) is False


def test_several_seeds_on_several_devices_is_refused(tmp_path):
    import meddl
    from meddl.errors import MeddlError

    with pytest.raises(MeddlError, match="--seeds"):
        meddl.train("pneumoniamnist", tmp_path / "run", seeds=[0, 1], devices=2)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("devices", ["auto", 1, 2, -1, "0,1"])
def test_lightning_device_forms_are_accepted(devices):
    from meddl.training.config import make_config

    assert make_config("pneumoniamnist", devices=devices, accelerator="gpu").devices == devices


def test_one_device_unless_asked():
    from meddl.training.config import make_config

    assert make_config("pneumoniamnist").devices == 1


@pytest.mark.parametrize("options", [{"devices": "abc"}, {"devices": 0}, {"devices": -2}, {"devices": "0,x"},
                                     {"num_nodes": 0}, {"devices": -1, "accelerator": "cpu"},
                                     {"devices": "0,1", "accelerator": "cpu"}])
def test_bad_device_counts_fail_before_any_work(options, tmp_path):
    import meddl
    from meddl.errors import ConfigError

    with pytest.raises(ConfigError, match="devices|num_nodes"):
        meddl.train("pneumoniamnist", tmp_path / "run", **options)
    assert not (tmp_path / "run").exists()


def test_the_cli_names_a_bad_device_count(tmp_path):
    meddl = Path(sys.executable).parent / "meddl"
    done = subprocess.run([str(meddl), "train", "pneumoniamnist", "--devices", "two", "--output-dir",
                           str(tmp_path / "run")], capture_output=True, text=True)
    assert done.returncode == 2 and "devices 'two'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
