"""Every registered task through the whole protocol on the tiny data it makes (as scikit-learn's estimator checks):
fit a few steps, save, load by the task name in the checkpoint, evaluate to metrics.json and a report, refuse data
of another kind, predict. A new family is tested by registering it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from meddl.errors import DataError
from meddl.tasks import RunContext, list_tasks, load_model, task_for
from meddl.tasks.runner import train_on
from meddl.training.checkpoints import TASK_KEY, read_checkpoint

TASKS = list_tasks()


def _other_kind(task):
    """Example data of a kind `task` does not learn from."""
    return next(other.example_data(0) for other in TASKS if not task.accepts(other.example_data(0).info))


def test_every_family_is_registered():
    assert {task.name for task in TASKS} >= {"image", "sequence", "language-model", "synthesis"}


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_task_conforms(task, tmp_path):
    data = task.example_data(seed=0)
    assert task.accepts(data.info) and task_for(data.info, task.name) is task
    config = task.example_config(data.info.name)

    run = train_on(task, config, data, tmp_path / "run", progress=False)
    for name in ("best.ckpt", "last.ckpt"):
        path = tmp_path / "run" / "checkpoints" / name
        if path.is_file():
            raw = read_checkpoint(path)
            assert raw[TASK_KEY] == task.name and raw["data_fingerprint"]
    assert run.report is not None and run.report.is_file()
    assert all((tmp_path / "run" / name).exists() for name in ("checkpoints", "report.html"))

    loaded, module = load_model(run.checkpoint)
    assert loaded is task
    task.check_data(module, data)  # the data it was trained on is accepted
    with pytest.raises(DataError):
        task.check_data(module, _other_kind(task))

    result = task.evaluate(module, data, tmp_path / "evaluation", RunContext(
        checkpoint=run.checkpoint, config={"dataset": data.info.name}, n_bootstrap=20,
        options=task.example_evaluation()))
    metrics = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result.metrics, default=str))
    scored = metrics.get("test", metrics)
    missing = set(task.metric_keys) - set(scored)
    assert not missing, f"{task.name}: metrics.json lacks {sorted(missing)}"

    outputs = np.asarray(task.predict(module, data, "test"))
    assert len(outputs) >= 1 and np.isfinite(outputs.astype(float)).all()
    if task.predicts_files:
        files = []
        for index, image in enumerate(data.images["test"][:3]):
            files.append(tmp_path / f"input{index}.png")
            Image.fromarray(image[..., 0]).save(files[-1])
        predictions = task.predict_files(module, files)
        assert [p.file for p in predictions] == [str(f) for f in files]
        assert all(p.label in module.hparams.labels for p in predictions)
