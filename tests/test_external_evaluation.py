"""Evaluating a trained model on someone else's images (an external test set), as a lab would: every image is
scored, nothing is written into the data folder, and a sample too small to mean anything says so."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meddl.api import evaluate, train

LABELS = ("malignant", "normal, benign")  # BreastMNIST's classes, as a user's folder names them
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "medmnist"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    if not (SHARED / "breastmnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED}")
    run = tmp_path_factory.mktemp("external") / "run"
    return Path(train("breastmnist", run, data_dir=SHARED, epochs=1, bootstrap=20, progress=False).checkpoint)


def external_folder(root: Path, per_class: tuple[int, int], seed: int = 0) -> Path:
    """Class folders of BreastMNIST test images saved as PNG files, as a collaborator would send them."""
    with np.load(SHARED / "breastmnist.npz") as archive:
        images, labels = archive["test_images"], archive["test_labels"].ravel()
    for label, count in enumerate(per_class):
        folder = root / LABELS[label]
        folder.mkdir(parents=True)
        for index in np.flatnonzero(labels == label)[:count]:
            Image.fromarray(images[index]).save(folder / f"case{index:03d}.png")
    return root


def listing(root: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_an_external_folder_is_scored_whole_and_left_unchanged(checkpoint, tmp_path):
    folder = external_folder(tmp_path / "hospital_b", (20, 44))
    before = listing(folder)
    result = evaluate(checkpoint, tmp_path / "out", dataset=str(folder), n_bootstrap=50)
    assert listing(folder) == before  # no meddl_split.csv or anything else beside the data
    scored = result.metrics["all"]
    assert scored["n"] == 64 and sum(row["support"] for row in scored["per_class"]) == 64
    with open(tmp_path / "out" / "predictions_all.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(Path(row["source"]).relative_to(folder).as_posix() for row in rows) == sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*.png"))
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["config"]["split"] == "all"


def test_the_training_dataset_still_defaults_to_its_test_split(checkpoint, tmp_path):
    result = evaluate(checkpoint, tmp_path / "out", data_dir=SHARED, n_bootstrap=20)
    assert "test" in result.metrics and result.metrics["test"]["n"] == 156


def test_a_small_external_sample_is_flagged(checkpoint, tmp_path):
    folder = external_folder(tmp_path / "tiny", (3, 5))
    with pytest.warns(UserWarning, match=r"only 8 cases in the all split, 3 of them 'malignant': too few"):
        result = evaluate(checkpoint, tmp_path / "out", dataset=str(folder), n_bootstrap=50)
    assert "too few" in result.metrics["warnings"][0]
    assert "too few" in (tmp_path / "out" / "report.html").read_text()


def test_the_cli_scores_a_folder_whole_by_default(checkpoint, tmp_path, capsys):
    from meddl.cli import main

    folder = external_folder(tmp_path / "site_c", (30, 30))
    before = listing(folder)
    assert main(["evaluate", str(checkpoint), "--dataset", str(folder), "--bootstrap", "20",
                 "--output-dir", str(tmp_path / "out")]) == 0
    assert "all AUC" in capsys.readouterr().out
    assert listing(folder) == before
