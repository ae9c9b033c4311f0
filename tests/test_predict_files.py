"""`meddl predict` on a mix of good and unreadable files: the good ones are predicted, the bad ones listed."""

from __future__ import annotations

import csv
import io

from PIL import Image

from meddl.cli import main
from meddl.tasks import get_task
from meddl.tasks.runner import train_on


def test_an_unreadable_file_does_not_stop_the_others(tmp_path, capsys):
    task = get_task("image")
    data = task.example_data(0)
    run = train_on(task, task.example_config(data.info.name), data, tmp_path / "run", progress=False)
    folder = tmp_path / "scans"
    folder.mkdir()
    for index in range(2):
        Image.fromarray(data.images["test"][index, ..., 0]).save(folder / f"good{index}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    output = tmp_path / "predictions.csv"
    assert main(["predict", str(run.checkpoint), str(folder), "-o", str(output)]) == 1
    error = capsys.readouterr().err
    assert "broken.png" in error and "1 of 3 file(s) could not be read" in error
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in csv.DictReader(io.StringIO(output.read_text()))}
    assert rows["broken.png"]["label"] == "" and "broken.png" in rows["broken.png"]["error"]
    for name in ("good0.png", "good1.png"):
        assert rows[name]["label"] in data.info.labels and rows[name]["error"] == ""
        assert abs(float(rows[name]["p_clear"]) + float(rows[name]["p_marked"]) - 1) < 1e-5
