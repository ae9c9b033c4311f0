"""Results people can trust: run manifests, data fingerprints checked by evaluate, tuned thresholds, input guards,
several seeds, and identical metrics for identical seeds. Real (short) training runs on real BreastMNIST images."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import SHARED_MEDMNIST, write_real_png_folder
from PIL import Image

from meddl.cli import main
from meddl.tasks.image import load_classifier
from meddl.training.checkpoints import checkpoint_entry

QUICK = ["--epochs", "2", "--batch-size", "32", "--bootstrap", "50"]


@pytest.fixture(scope="module")
def png_run(tmp_path_factory):
    """One training run on the user's own folder of real BreastMNIST PNGs (binary: a threshold is tuned)."""
    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip("shared MedMNIST data not found")
    root = tmp_path_factory.mktemp("trust")
    folder = write_real_png_folder(SHARED_MEDMNIST, root / "pngs", per_class=40)
    assert main(["train", str(folder), "--output-dir", str(root / "run"), *QUICK]) == 0
    return folder, root / "run"


def test_manifest_records_software_config_data_machine_and_times(png_run):
    folder, run = png_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["versions"]["torch"] and manifest["versions"]["meddl"]
    assert manifest["config"]["epochs"] == 2 and manifest["seed"] == manifest["config"]["seed"] == 0
    files = {f["path"]: f for f in manifest["data"]["files"]}
    assert len(files) == 80  # every image of the folder, each with its checksum
    some = next(iter(files.values()))
    import hashlib
    from pathlib import Path

    assert some["sha256"] == hashlib.sha256(Path(some["path"]).read_bytes()).hexdigest()
    assert set(manifest["data"]["fingerprint"]) == {"train", "val", "test"}
    assert manifest["machine"]["cpu_cores"] >= 1 and manifest["machine"]["torch_threads"] >= 1
    assert manifest["started"] <= manifest["finished"]


def test_threshold_is_tuned_on_validation_stored_and_reported(png_run):
    _, run = png_run
    threshold = checkpoint_entry(run / "checkpoints" / "best.ckpt", "threshold")
    assert checkpoint_entry(run / "checkpoints" / "best.ckpt", "threshold_method") == "youden"
    metrics = json.loads((run / "metrics.json").read_text())
    tuned = metrics["test"]["operating_point"]
    assert tuned["threshold"] == threshold and metrics["test"]["threshold"] == 0.5
    assert tuned["method"] == "tuned: youden"
    assert {"acc", "balanced_accuracy", "macro_f1", "per_class", "confusion_matrix", "ci"} <= set(tuned)
    assert "Operating point" in (run / "report.html").read_text()
    assert load_classifier(run / "checkpoints" / "best.ckpt").threshold == threshold


def test_evaluate_refuses_changed_data_unless_forced(png_run, tmp_path, capsys):
    folder, run = png_run
    copy = shutil.copytree(folder, tmp_path / "pngs")
    checkpoint = shutil.copytree(run / "checkpoints", tmp_path / "checkpoints") / "best.ckpt"
    # the checkpoint names the folder it was trained on; point a copy of the run at the copied data
    import torch

    raw = torch.load(checkpoint, weights_only=False)
    raw["hyper_parameters"]["dataset"] = str(copy)
    torch.save(raw, checkpoint)
    assert main(["evaluate", str(checkpoint), "--dataset", str(copy), "--bootstrap", "20",
                 "--output-dir", str(tmp_path / "same")]) == 0
    first = sorted((copy / "benign").glob("*.png"))[0]
    pixels = np.asarray(Image.open(first)).copy()
    pixels[:4] = 255 - pixels[:4]
    Image.fromarray(pixels).save(first)  # one image edited after training
    assert main(["evaluate", str(checkpoint), "--dataset", str(copy), "--bootstrap", "20",
                 "--output-dir", str(tmp_path / "changed")]) == 2
    assert "has changed since this model was trained" in capsys.readouterr().err
    assert not (tmp_path / "changed" / "metrics.json").exists()
    assert main(["evaluate", str(checkpoint), "--dataset", str(copy), "--bootstrap", "20", "--force",
                 "--output-dir", str(tmp_path / "forced")]) == 0


def test_input_guard_fires_on_a_0_1_image_and_strict_stops(png_run, tmp_path, capsys):
    folder, run = png_run
    good = sorted((folder / "benign").glob("*.png"))[0]
    pixels = np.asarray(Image.open(good))
    zero_one = tmp_path / "zero_one.png"
    Image.fromarray((pixels > 127).astype(np.uint8)).save(zero_one)  # a 0-1 mask saved as 8-bit
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.stack([pixels, pixels // 2, 255 - pixels], axis=2)).save(rgb)
    checkpoint = str(run / "checkpoints" / "best.ckpt")
    assert main(["predict", checkpoint, str(good), str(zero_one), str(rgb), "-o", str(tmp_path / "p.json")]) == 0
    err = capsys.readouterr().err
    assert "zero_one.png" in err and "0-1 image" in err
    assert "rgb.png" in err and "RGB" in err
    assert good.name not in err  # a training-like image passes quietly
    rows = json.loads((tmp_path / "p.json").read_text())
    assert rows[0]["warnings"] == [] and rows[1]["warnings"]
    assert main(["predict", checkpoint, str(zero_one), "--strict"]) == 2
    assert "--strict" in capsys.readouterr().err


def test_seeds_give_mean_and_sd_and_the_same_seed_repeats_exactly(tmp_path, capsys):
    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip("shared MedMNIST data not found")
    env = ["--data-dir", str(SHARED_MEDMNIST)]
    assert main(["train", "breastmnist", "--output-dir", str(tmp_path / "multi"), "--seeds", "0,1", *QUICK,
                 *env]) == 0
    summary = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    aucs = [run["test"]["auc"] for run in summary["per_seed"]]
    assert summary["seeds"] == [0, 1] and summary["mean"]["auc"] == pytest.approx(np.mean(aucs))
    assert summary["sd"]["auc"] == pytest.approx(np.std(aucs, ddof=1))
    assert "mean ± sd over 2 seeds" in capsys.readouterr().out
    assert main(["train", "breastmnist", "--output-dir", str(tmp_path / "again"), "--seed", "1", *QUICK, *env]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())["test"]
    seed1 = json.loads((tmp_path / "multi" / "seed-1" / "metrics.json").read_text())["test"]
    for key in ("auc", "acc", "macro_f1", "ece"):
        assert again[key] == seed1[key]  # same seed, same CPU: identical figures


def test_seed_and_seeds_together_is_a_clear_error(capsys):
    assert main(["train", "breastmnist", "--seed", "0", "--seeds", "0,1"]) == 2
    assert "--seed and --seeds" in capsys.readouterr().err
