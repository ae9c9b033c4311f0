"""`meddl explain` as a user meets it: PNG and DICOM files in, overlays and a summary out, one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from helpers import write_dicom
from PIL import Image

from meddl.cli import main


def run_cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture
def dicom_scan(marker_run, tmp_path):
    """A 16-bit, non-square DICOM made from a test image with the marker, as a scanner might store it."""
    image = marker_run.test_images[marker_run.test_has_marker][0, ..., 0]
    pixels = np.asarray(Image.fromarray(image).resize((96, 128), Image.Resampling.BICUBIC)).astype(np.uint16) * 16
    return write_dicom(tmp_path / "scan.dcm", pixels, bits=16)


def test_explain_writes_an_overlay_per_png_and_dicom_file_and_a_summary(marker_run, dicom_scan, tmp_path, capsys):
    out = tmp_path / "why"
    marked, plain = (sorted((marker_run.data / name).glob("*.png")) for name in ("marker", "plain"))
    pngs = [marked[0], marked[1], plain[0]]
    assert run_cli("explain", marker_run.checkpoint, *pngs, dicom_scan, "--output-dir", out) == 0
    assert "explained 4 image(s) with gradcam" in capsys.readouterr().out
    with open(out / "explanations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["file"] for row in rows] == [str(path) for path in [*pngs, dicom_scan]]
    assert json.loads((out / "explanations.json").read_text())[3]["overlay"] == str(out / "scan_gradcam.png")
    for row in rows:
        assert row["label"] == row["explained"] in marker_run.labels  # each image explained for its prediction
        assert 0.5 <= float(row["probability"]) <= 1 and row["method"] == "gradcam"
        with Image.open(row["overlay"]) as overlay:
            assert overlay.format == "PNG" and overlay.mode == "RGB"
            assert overlay.size == ((168, 224) if row["file"].endswith(".dcm") else (224, 224))  # aspect kept
    assert [row["label"] for row in rows[:2]] == ["marker", "marker"]


def test_explain_a_chosen_class_by_occlusion(marker_run, dicom_scan, tmp_path):
    assert run_cli("explain", marker_run.checkpoint, dicom_scan, "--method", "occlusion", "--target", "plain",
                   "--output-dir", tmp_path) == 0
    (row,) = json.loads((tmp_path / "explanations.json").read_text())
    assert row["explained"] == "plain" and row["method"] == "occlusion"
    assert (tmp_path / "scan_occlusion.png").is_file()


def test_files_with_the_same_name_get_separate_overlays(marker_run, tmp_path):
    first, second = tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"
    for path, image in ((first, marker_run.test_images[0]), (second, marker_run.test_images[1])):
        path.parent.mkdir()
        Image.fromarray(image[..., 0]).save(path)
    assert run_cli("explain", marker_run.checkpoint, first, second, "--method", "gradcam++",
                   "--output-dir", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["x-2_gradcampp.png", "x_gradcampp.png"]


def test_an_unknown_method_is_a_one_line_error_before_anything_is_loaded(tmp_path, capsys):
    missing = tmp_path / "no.ckpt"
    assert run_cli("explain", missing, tmp_path, "--method", "lime", "--output-dir", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("meddl: error: unknown explanation method 'lime': expected one of gradcam, gradcam++")
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_an_image_is_named_in_the_error(marker_run, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    assert run_cli("explain", marker_run.checkpoint, notes, "--output-dir", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{notes}: unsupported image type" in err
    assert not (tmp_path / "out" / "explanations.csv").exists()
