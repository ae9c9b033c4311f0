"""ONNX export and predictors: the exported file gives PyTorch's probabilities for every task type at any batch
size, carries its model card, and bad files or failed checks end in a clear error with nothing left behind."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import pytest
import torch

import meddl.serve.export as export_module
from meddl.cli import main
from meddl.errors import MeddlError
from meddl.serve.export import export_onnx, read_metadata, verification_images
from meddl.serve.predictor import OnnxPredictor, TorchPredictor, load_predictor, prepare

PRIVACY = {"mechanism": "DP-SGD", "epsilon": 3.0, "delta": 1e-5}
TASKS = {  # task: (labels, channels)
    "binary": (["benign", "malignant"], 1),
    "multi-class": (["a", "b", "c", "d", "e"], 3),
    "multi-label": ([f"finding{i}" for i in range(6)], 1),
    "ordinal": (["grade0", "grade1", "grade2", "grade3", "grade4"], 3),
}


def write_checkpoint(path, task: str, seed: int = 0, **extra):
    """A freshly built meddl checkpoint (Lightning layout) with randomised batch-norm statistics, so that the
    normalisation and every layer matter; `extra` entries go into the checkpoint dict."""
    from meddl.tasks.image.module import ImageClassifier

    torch.manual_seed(seed)
    labels, channels = TASKS[task]
    module = ImageClassifier("fast-cnn", task, labels, channels, 28, dataset=f"tiny-{task}", seed=seed)
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(), **extra}, path)
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One export per task type: {task: (checkpoint, ExportResult)}."""
    root = tmp_path_factory.mktemp("exports")
    result = {}
    for i, task in enumerate(TASKS):
        extra = {"privacy": PRIVACY, "threshold": 0.3} if task == "binary" else {}  # as a DP run would record
        checkpoint = write_checkpoint(root / f"{task}.ckpt", task, seed=i, **extra)
        result[task] = (checkpoint, export_onnx(checkpoint))
    return result


@pytest.mark.parametrize("task", list(TASKS))
def test_export_matches_pytorch_at_any_batch_size(exports, task):
    from meddl.tasks.image import load_classifier

    checkpoint, result = exports[task]
    assert result.path == checkpoint.with_suffix(".onnx") and result.path.is_file()
    assert 0 <= result.max_abs_diff <= 1e-4
    module = load_classifier(checkpoint)
    labels, channels = TASKS[task]
    predictor = OnnxPredictor(result.path)
    for batch in (1, 64):  # the batch axis is dynamic
        images = verification_images(channels, 28, batch, seed=batch)
        expected = module.predict_proba(torch.from_numpy(images))
        got = predictor.predict(images.transpose(0, 2, 3, 1).copy())
        assert got.shape == (batch, len(labels)) and got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1e-4
        if task != "multi-label":
            assert np.allclose(got.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("task", list(TASKS))
def test_metadata_round_trips_through_the_onnx_file(exports, task):
    checkpoint, result = exports[task]
    labels, channels = TASKS[task]
    stored = read_metadata(result.path)
    assert stored == result.metadata == OnnxPredictor(result.path).metadata == TorchPredictor(checkpoint).metadata
    assert stored["labels"] == labels and stored["task"] == task and stored["in_channels"] == channels
    assert stored["image_size"] == 28 and stored["model"] == "fast-cnn" and stored["dataset"] == f"tiny-{task}"
    assert stored["channel_order"] == ("grey" if channels == 1 else "RGB")
    assert stored["input"]["range"] == [0, 255] and stored["input"]["layout"] == "NCHW"
    assert "metrics" not in stored  # no metrics.json in the run folder
    if task == "binary":
        assert stored["privacy"] == PRIVACY and stored["decision_threshold"] == 0.3
    else:
        assert "privacy" not in stored and stored["decision_threshold"] == 0.5
    graph = onnx.load(str(result.path)).graph
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["probabilities"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, free batch dimension


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A real one-epoch BreastMNIST run: checkpoint, metrics.json and test images."""
    import meddl
    from helpers import SHARED_MEDMNIST

    if not (SHARED_MEDMNIST / "breastmnist.npz").is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED_MEDMNIST}")
    run = tmp_path_factory.mktemp("breast") / "run"
    meddl.train("breastmnist", run, data_dir=SHARED_MEDMNIST, epochs=1, batch_size=64, bootstrap=20, progress=False)
    with np.load(SHARED_MEDMNIST / "breastmnist.npz") as archive:
        images = archive["test_images"][:40]
    return run / "checkpoints" / "best.ckpt", images


def test_onnx_and_torch_predictors_agree_on_real_images(trained_run):
    checkpoint, images = trained_run
    onnx_predictor = load_predictor(checkpoint, backend="onnx")  # exports beside the checkpoint, then ORT
    torch_predictor = load_predictor(checkpoint)
    assert isinstance(onnx_predictor, OnnxPredictor) and isinstance(torch_predictor, TorchPredictor)
    assert onnx_predictor.path == checkpoint.with_suffix(".onnx")
    # Users send colour, larger images: prepare converts (RGB -> grey) and resizes as `meddl predict` does.
    rgb_large = [np.repeat(np.kron(image, np.ones((2, 2), np.uint8))[..., None], 3, axis=2) for image in images]
    batch = np.stack([prepare(image, onnx_predictor.metadata)[0] for image in rgb_large])
    assert batch.shape == (40, 28, 28, 1) and batch.dtype == np.uint8
    assert np.abs(onnx_predictor.predict(batch) - torch_predictor.predict(batch)).max() <= 1e-4
    assert np.abs(torch_predictor.predict(batch) - torch_predictor.module.predict_proba(
        torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()))).max() == 0


def test_export_card_carries_the_runs_test_metrics_and_the_cached_export_is_reused(trained_run):
    checkpoint, _ = trained_run
    metrics = json.loads((checkpoint.parent.parent / "metrics.json").read_text())["test"]
    cached = load_predictor(checkpoint, backend="onnx").path
    mtime = cached.stat().st_mtime_ns
    card = load_predictor(checkpoint, backend="onnx").metadata
    assert cached.stat().st_mtime_ns == mtime  # not exported again
    assert card["metrics"]["split"] == "test" and card["dataset"] == "breastmnist"
    assert card["metrics"]["auc"] == metrics["auc"] and card["metrics"]["ci"]["auc"] == metrics["ci"]["auc"]


def test_a_failed_verification_raises_and_leaves_no_file(exports, tmp_path, monkeypatch):
    checkpoint, _ = exports["multi-class"]
    target = tmp_path / "model.onnx"
    real_to_onnx = export_module._to_onnx

    built = []

    def corrupted(module):  # an exporter bug: the graph gets other weights than the checkpoint
        if not built:
            broken = copy.deepcopy(module)
            with torch.no_grad():
                broken.net.head[-1].bias[0] += 1.0
            built.append(real_to_onnx(broken))
        return copy.deepcopy(built[0])

    monkeypatch.setattr(export_module, "_to_onnx", corrupted)
    with pytest.raises(MeddlError, match="differs from PyTorch"):
        export_onnx(checkpoint, target)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"an earlier export")
    with pytest.raises(MeddlError, match="tolerance"):
        export_onnx(checkpoint, target)
    assert target.read_bytes() == b"an earlier export" and len(list(tmp_path.iterdir())) == 1


def test_bad_files_give_errors_that_name_them(exports, tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07 this is not a protobuf \xff\xfe")
    with pytest.raises(MeddlError, match="garbage.onnx"):
        load_predictor(garbage)
    plain = tmp_path / "plain.onnx"
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("x", 1, [1])], [value("y", 1, [1])])
    onnx.save(onnx.helper.make_model(graph), plain)
    with pytest.raises(MeddlError, match="plain.onnx: not a meddl ONNX export"):
        OnnxPredictor(plain)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exports["binary"][1].path.read_bytes()[:50_000])
    with pytest.raises(MeddlError, match="truncated.onnx"):
        load_predictor(truncated)
    with pytest.raises(MeddlError, match="not found"):
        load_predictor(tmp_path / "missing.onnx")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(MeddlError, match="foreign.ckpt: not a meddl checkpoint"):
        export_onnx(foreign)
    with pytest.raises(MeddlError, match="expected uint8 images of shape"):
        OnnxPredictor(exports["binary"][1].path).predict(np.zeros((2, 28, 28, 3), np.uint8))


def test_cli_export_prints_the_path_and_the_verified_difference(exports, tmp_path, capsys):
    checkpoint, _ = exports["ordinal"]
    target = tmp_path / "retina.onnx"
    assert main(["export", str(checkpoint), "--format", "onnx", "--output", str(target)]) == 0
    out = capsys.readouterr().out
    assert str(target) in out and "max abs difference" in out and target.is_file()
    assert main(["export", str(checkpoint), "--format", "tflite"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "meddl: error: unknown export format 'tflite'; expected one of onnx"
