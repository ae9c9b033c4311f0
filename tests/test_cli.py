"""The CLI as a user meets it: listing, training on their own folders/CSV/DICOM, evaluate, predict, clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import write_dicom, write_real_png_folder
from PIL import Image

from meddl.cli import main
from meddl.training.checkpoints import checkpoint_entry

QUICK = ["--epochs", "2", "--batch-size", "32", "--bootstrap", "50"]


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def test_datasets_and_models_are_listed_from_the_registries(capsys):
    assert run_cli("datasets") == 0
    out = capsys.readouterr().out
    for name in ("pathmnist", "chestmnist", "pneumoniamnist", "organsmnist", "tissuemnist"):
        assert name in out
    assert "multi-label" in out and "ordinal" in out and "4708/524/624" in out
    assert run_cli("models") == 0
    out = capsys.readouterr().out
    for name in ("seed-cnn", "fast-cnn", "resnet18-28", "resnet50", "densenet121"):
        assert name in out


@pytest.fixture(scope="module")
def trained_png_run(tmp_path_factory):
    """One real training run on a folder of PNG class sub-folders made from BreastMNIST images."""
    from helpers import SHARED_MEDMNIST

    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip("shared MedMNIST data not found")
    root = tmp_path_factory.mktemp("cli")
    folder = write_real_png_folder(SHARED_MEDMNIST, root / "breast_pngs", per_class=40)
    assert run_cli("train", folder, "--output-dir", root / "run", *QUICK) == 0
    return folder, root / "run"


def test_train_on_a_png_folder_writes_the_standard_outputs(trained_png_run):
    folder, run = trained_png_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"auc", "acc", "ci", "per_class", "confusion_matrix", "ece"}
    assert metrics["labels"] == ["benign", "malignant"]
    assert metrics["config"]["dataset"] == str(folder)
    assert metrics["wall_time_s"] > 0
    assert (run / "report.html").is_file() and (run / "checkpoints" / "best.ckpt").is_file()
    assert (folder / "meddl_split.csv").is_file()  # the split is saved so the run can be repeated


def test_evaluate_a_checkpoint_on_its_own_dataset(trained_png_run, capsys):
    folder, run = trained_png_run
    assert run_cli("evaluate", run / "checkpoints" / "best.ckpt", "--bootstrap", "50") == 0
    evaluated = json.loads((run / "evaluate-test" / "metrics.json").read_text())
    trained = json.loads((run / "metrics.json").read_text())
    assert evaluated["test"]["auc"] == pytest.approx(trained["test"]["auc"])
    assert "test AUC" in capsys.readouterr().out


def test_predict_png_and_dicom_files_to_csv_and_json(trained_png_run, tmp_path):
    folder, run = trained_png_run
    pngs = sorted((folder / "malignant").glob("*.png"))[:3]
    dicom = write_dicom(tmp_path / "scan.dcm", np.asarray(Image.open(pngs[0])).astype(np.uint16) * 16,
                        RescaleSlope=1, RescaleIntercept=0)
    out_csv = tmp_path / "predictions.csv"
    assert run_cli("predict", run / "checkpoints" / "best.ckpt", *pngs, dicom, "-o", out_csv) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [Path(r["file"]).name for r in rows] == [p.name for p in pngs] + ["scan.dcm"]
    threshold = checkpoint_entry(run / "checkpoints" / "best.ckpt", "threshold")
    assert isinstance(threshold, float) and 0 < threshold < 1
    for row in rows:
        probs = [float(row["p_benign"]), float(row["p_malignant"])]
        assert sum(probs) == pytest.approx(1, abs=1e-4)
        # the decision uses the threshold tuned on validation data and stored in the checkpoint, not 0.5
        assert row["label"] == ("malignant" if probs[1] > threshold else "benign")
    # The DICOM holds the same picture as the first PNG (scaled to 12 bits), so its prediction matches closely.
    assert float(rows[-1]["p_malignant"]) == pytest.approx(float(rows[0]["p_malignant"]), abs=0.02)
    out_json = tmp_path / "predictions.json"
    assert run_cli("predict", run / "checkpoints" / "best.ckpt", folder / "benign", "-o", out_json) == 0
    assert len(json.loads(out_json.read_text())) == len(list((folder / "benign").glob("*.png")))


def test_train_from_a_csv_of_paths_and_labels(shared_medmnist, tmp_path):
    folder = write_real_png_folder(shared_medmnist, tmp_path / "imgs", per_class=30)
    table = tmp_path / "labels.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for image in sorted(folder.rglob("*.png")):
            writer.writerow([image.relative_to(tmp_path), image.parent.name])
    assert run_cli("train", table, "--output-dir", tmp_path / "run", *QUICK) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["n"] > 0


def test_train_on_a_folder_of_dicom_files(shared_medmnist, tmp_path):
    with np.load(shared_medmnist / "breastmnist.npz") as archive:
        images, labels = archive["train_images"], archive["train_labels"].ravel()
    for label, name in ((0, "malignant"), (1, "benign")):
        for i, index in enumerate(np.flatnonzero(labels == label)[:30]):
            (tmp_path / "dicoms" / name).mkdir(parents=True, exist_ok=True)
            # CT-like storage: 12-bit values with a rescale intercept, as scanners write them
            write_dicom(tmp_path / "dicoms" / name / f"{i:03d}.dcm", images[index].astype(np.uint16) * 16,
                        RescaleSlope=1, RescaleIntercept=-1024)
    assert run_cli("train", tmp_path / "dicoms", "--output-dir", tmp_path / "run", *QUICK) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["labels"] == ["benign", "malignant"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "no-such-set"], "unknown dataset 'no-such-set'"),
        (["train", "missing_folder/"], "missing_folder"),
        (["predict", "missing.ckpt", "x.png"], "checkpoint missing.ckpt not found"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("meddl: error:") and message in err and "\n" not in err
    assert not (tmp_path / "runs").exists()  # nothing half-made is left behind


def test_predict_on_a_corrupt_image_names_the_file(trained_png_run, tmp_path, capsys):
    folder, run = trained_png_run
    broken = tmp_path / "broken.png"
    broken.write_bytes(Image.open(next((folder / "benign").glob("*.png"))).tobytes()[:50])
    not_a_checkpoint = tmp_path / "fake.ckpt"
    not_a_checkpoint.write_bytes(b"not a checkpoint")
    assert run_cli("predict", run / "checkpoints" / "best.ckpt", broken) == 1  # the file is named, and the exit says not every file was predicted
    assert "broken.png" in capsys.readouterr().err
    assert run_cli("predict", not_a_checkpoint, broken) == 2
    assert "fake.ckpt" in capsys.readouterr().err


def test_console_script_errors_have_no_traceback(tmp_path):
    meddl = Path(sys.executable).parent / "meddl"
    done = subprocess.run([str(meddl), "train", "no-such-set"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.startswith("meddl: error:")


def test_bad_user_folder_stops_before_any_output(real_png_folder, tmp_path, capsys):
    (real_png_folder / "empty_class").mkdir()
    assert run_cli("train", real_png_folder, "--output-dir", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "empty_class" in err
    assert not (tmp_path / "run").exists()
