"""The task registry: which task learns from which data, and which task a checkpoint names (or, for a file written
by meddl 0.1 without the name, which its hyper-parameters say)."""

from __future__ import annotations

import pytest
import torch

from meddl.data.types import DatasetInfo
from meddl.errors import MeddlError
from meddl.tasks import get_task, load_model, task_for
from meddl.tasks.runner import train_on
from meddl.training.checkpoints import TASK_KEY, read_checkpoint


def _info(kind: str, task: str) -> DatasetInfo:
    return DatasetInfo(name="x", task=task, n_channels=1, labels=("a", "b"), splits={}, license="-", kind=kind)


def test_each_kind_of_data_goes_to_its_default_task_and_a_named_one_is_checked():
    assert task_for(_info("image", "binary")).name == "image"
    assert task_for(_info("ecg", "multi-class")).name == "sequence"
    assert task_for(_info("text", "multi-class")).name == "sequence"
    assert task_for(_info("text", "language-model")).name == "language-model"
    assert task_for(_info("image", "multi-class"), "synthesis").name == "synthesis"
    with pytest.raises(MeddlError, match="the synthesis task cannot learn from it"):
        task_for(_info("ecg", "multi-class"), "synthesis")
    with pytest.raises(MeddlError, match="no task learns from image data with task type regression"):
        task_for(_info("image", "regression"))  # another family's images are not the classifier's to take
    with pytest.raises(MeddlError, match="unknown task 'nope'"):
        get_task("nope")


def test_a_checkpoint_without_the_task_field_loads_by_its_hyper_parameters(tmp_path):
    """meddl 0.1 wrote no task name; such a file still loads, as what its hyper-parameters describe."""
    task = get_task("image")
    data = task.example_data(0)
    run = train_on(task, task.example_config(data.info.name), data, tmp_path / "run", progress=False)
    raw = read_checkpoint(run.checkpoint)
    assert raw.pop(TASK_KEY) == "image"
    torch.save(raw, tmp_path / "old.ckpt")
    loaded, module = load_model(tmp_path / "old.ckpt")
    assert loaded.name == "image"
    for key, value in load_model(run.checkpoint)[1].state_dict().items():
        assert torch.equal(module.state_dict()[key], value)


def test_weights_that_do_not_fit_the_recorded_architecture_are_one_line(tmp_path):
    raw = {TASK_KEY: "image", "state_dict": {"net.nonsense": torch.zeros(1)},
           "hyper_parameters": {"model": "fast-cnn", "task": "binary", "labels": ["a", "b"], "in_channels": 1,
                                "image_size": 28}}
    torch.save(raw, tmp_path / "odd.ckpt")
    with pytest.raises(MeddlError, match="recorded architecture does not match its weights") as error:
        load_model(tmp_path / "odd.ckpt")
    assert "\n" not in str(error.value)
