"""Result files get the permissions a plain `open()` gives (0666 less the umask), so collaborators on a shared
server can read them: every file of a real run, its checkpoints and its ONNX export, under umask 022 and 077."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest

import meddl.api
from meddl.atomic import plain, write_json_atomic, write_text_atomic


@contextmanager
def umask(mask: int):
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_atomic_writes_get_the_mode_open_would_give(tmp_path, mask):
    with umask(mask):
        written = [write_text_atomic(tmp_path / "a.txt", "x"), write_json_atomic(tmp_path / "b.json", {"a": (1,)})]
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("x")
    assert {_mode(path) for path in written} == {_mode(tmp_path / "plain.txt")} == {0o666 & ~mask}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json", "plain.txt"]  # no temporary left


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_every_file_of_a_run_and_its_export_has_the_umasks_mode(shared_medmnist, tmp_path, mask, mode):
    run = tmp_path / "run"
    with umask(mask):
        meddl.api.train("breastmnist", run, data_dir=shared_medmnist, epochs=1, bootstrap=20, progress=False)
        meddl.api.export(run / "checkpoints" / "best.ckpt")
    files = [path for path in run.rglob("*") if path.is_file()]
    names = {str(path.relative_to(run)) for path in files}
    assert {"metrics.json", "manifest.json", "predictions_test.csv", "report.html", "checkpoints/best.ckpt",
            "checkpoints/last.ckpt", "checkpoints/best.onnx", "logs/metrics.csv", "logs/hparams.yaml"} <= names
    assert any(name.startswith("logs/tensorboard/events.out.tfevents") for name in names)
    wrong = {str(path.relative_to(run)): oct(_mode(path)) for path in files if _mode(path) != mode}
    assert not wrong, f"not {oct(mode)} under umask {oct(mask)}: {wrong}"


def test_plain_turns_results_into_what_json_and_safe_yaml_read():
    import numpy as np

    value = {"milestones": (50, 75), "path": Path("/data/x"), "auc": np.float32(0.5), "n": np.int64(3),
             "flags": np.array([True, False]), "nested": [{"t": (1.5,)}]}
    assert plain(value) == {"milestones": [50, 75], "path": "/data/x", "auc": 0.5, "n": 3, "flags": [True, False],
                            "nested": [{"t": [1.5]}]}
    assert type(plain(value)["n"]) is int and type(plain(value)["auc"]) is float
    with pytest.raises(TypeError, match="object"):
        plain({"x": object()})
