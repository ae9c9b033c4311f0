"""Volumes (issue 17): the MedMNIST 3D registry, 3D networks, 3D augmentation, the report's plane views, and a
3D model trained, evaluated, explained and reloaded end to end on real AdrenalMNIST3D shapes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from helpers import SHARED_DATA
from torch import nn

from meddl.data.registry import dataset_info, list_datasets, load_dataset
from meddl.models.registry import list_models
from meddl.errors import ConfigError, DataError
from meddl.models import create
from meddl.models.volume import AcsConv, _slice_conv, to_volume_network
from meddl.tasks.image.augment import AugmentPolicy, augment, policy_for
from meddl.tasks.image.planes import plane_view

SHARED_3D = SHARED_DATA / "medmnist3d"
THREE_D = ("adrenalmnist3d", "fracturemnist3d", "nodulemnist3d", "organmnist3d", "synapsemnist3d", "vesselmnist3d")


@pytest.fixture
def shared_3d():
    if not (SHARED_3D / "adrenalmnist3d.npz").is_file():
        pytest.skip(f"shared MedMNIST 3D data not found at {SHARED_3D}")
    return SHARED_DATA


def test_all_six_medmnist3d_sets_are_registered_at_28_and_64():
    volumes = {info.name: info for info in list_datasets() if info.spatial_dims == 3}
    assert sorted(volumes) == list(THREE_D)
    for info in volumes.values():
        assert info.sizes == (28, 64) and info.kind == "image" and info.default_model == "fast-cnn-3d"
    assert dataset_info("organmnist3d").n_classes == 11 and dataset_info("fracturemnist3d").n_classes == 3
    assert dataset_info("vesselmnist3d").splits == {"train": 1335, "val": 191, "test": 382}


@pytest.mark.parametrize("file, size", [("adrenalmnist3d.npz", 28), ("adrenalmnist3d_64.npz", 64),
                                        ("vesselmnist3d.npz", 28)])
def test_staged_files_match_the_catalogued_md5(shared_3d, file, size):
    from meddl.data.medmnist import expected_md5

    digest = hashlib.md5((SHARED_3D / file).read_bytes()).hexdigest()
    assert digest == expected_md5(file.split("_")[0].removesuffix(".npz"), size)


def test_adrenal_loads_as_volumes_with_the_official_splits(shared_3d):
    data = load_dataset("adrenalmnist3d", size=28, data_dir=shared_3d)
    assert {split: images.shape for split, images in data.images.items()} == {
        "train": (1188, 28, 28, 28, 1), "val": (98, 28, 28, 28, 1), "test": (298, 28, 28, 28, 1)}
    assert data.image_size == (28, 28, 28)
    assert np.bincount(data.labels["train"]).tolist() == [929, 259]


def test_a_2d_file_under_a_3d_name_is_refused_naming_the_shape(tmp_path):
    flat = np.zeros((4, 28, 28), np.uint8)
    labels = np.zeros((4, 1), np.uint8)
    np.savez(tmp_path / "adrenalmnist3d.npz", **{f"{s}_images": flat for s in ("train", "val", "test")},
             **{f"{s}_labels": labels for s in ("train", "val", "test")})
    with pytest.raises(DataError, match=r"adrenalmnist3d\.npz: train_images has shape \(4, 28, 28\).*3D volumes"):
        load_dataset("adrenalmnist3d", size=28, data_dir=tmp_path)


@pytest.mark.parametrize("name", ["fast-cnn-3d", "resnet18-3d", "resnet18-acs", "resnet18-2.5d"])
def test_volume_models_give_one_logit_per_class(name):
    torch.manual_seed(0)
    net = create(name, 1, 3, image_size=28).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 1, 28, 28, 28)).shape == (2, 3)


def test_fast_cnn_3d_strides_64_voxel_cubes_down_as_far_as_28_voxel_ones():
    features = {size: create("fast-cnn-3d", 1, 2, image_size=size).features(torch.rand(1, 1, size, size, size))
                for size in (28, 64)}
    assert features[28].shape[2:] == (3, 3, 3) and features[64].shape[2:] == (4, 4, 4)


def test_acs_convolution_splits_its_kernels_over_the_three_planes():
    torch.manual_seed(0)
    conv2d = nn.Conv2d(2, 7, 3, padding=1)
    acs = AcsConv(conv2d)
    assert acs.split == (3, 2, 2)
    x = torch.rand(1, 2, 6, 7, 8)
    w, b = conv2d.weight, conv2d.bias
    expected = torch.cat([
        nn.functional.conv3d(x, w[:3, :, None], b[:3], padding=(0, 1, 1)),          # axial: H, W
        nn.functional.conv3d(x, w[3:5, :, :, None], b[3:5], padding=(1, 0, 1)),     # coronal: D, W
        nn.functional.conv3d(x, w[5:, :, :, :, None], b[5:], padding=(1, 1, 0)),    # sagittal: D, H
    ], dim=1)
    torch.testing.assert_close(acs(x), expected)


def test_a_25d_convolution_is_the_2d_one_on_every_slice():
    torch.manual_seed(0)
    conv2d = nn.Conv2d(1, 4, 3, stride=2, padding=1)
    volume = torch.rand(2, 1, 5, 12, 12)
    out = _slice_conv(conv2d)(volume)
    for depth in range(5):
        torch.testing.assert_close(out[:, :, depth], conv2d(volume[:, :, depth]))


def test_a_layer_without_a_volume_counterpart_is_an_error():
    with pytest.raises(ValueError, match="AvgPool2d has no volume conversion"):
        to_volume_network(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2)), "acs")


def _shape(seed: int = 0) -> torch.Tensor:
    """A batch of binary shapes with no symmetry, so that a wrong flip or turn shows."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy((rng.random((6, 1, 10, 10, 10)) > 0.8).astype(np.float32))


def test_shape_volumes_are_turned_and_flipped_exactly():
    """The shape policy's 90-degree turns and flips move voxels onto voxels: a binary mask stays binary and keeps
    its voxel count, and at least one volume of the batch is really moved."""
    x = _shape()
    exact = AugmentPolicy(rotate_degrees=0, translate=0, scale=(1, 1), brightness=0, contrast=0,
                          horizontal_flip=True, vertical_flip=True, depth_flip=True, axis_permutations=True)
    out = augment(x, exact, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out.round(), out, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.sum(dim=(1, 2, 3, 4)), x.sum(dim=(1, 2, 3, 4)))
    assert (out - x).abs().sum() > 0


def test_volume_augmentation_repeats_with_its_seed_and_never_flips_ct():
    x = _shape()
    ct = policy_for("ct")
    first = augment(x, ct, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, augment(x, ct, torch.Generator().manual_seed(5)))
    assert not (ct.horizontal_flip or ct.vertical_flip or ct.depth_flip or ct.axis_permutations)
    assert policy_for("shape").axis_permutations


def test_plane_view_shows_central_slices_or_projections():
    volume = np.zeros((8, 8, 8, 1), np.uint8)
    volume[4, 2, 6] = 200  # on the central axial slice only
    volume[0, 0, 0] = 90  # off every central plane
    slices = plane_view(volume)
    assert slices.shape == (8, 24, 1)
    assert slices[2, 6, 0] == 200 and slices.max() == 200 and (slices == 90).sum() == 0
    projected = plane_view(volume, project=True)
    assert (projected == 90).sum() == 3  # seen once in each of the three projections


def test_differential_privacy_is_refused_for_volumes(shared_3d, tmp_path):
    import meddl

    with pytest.raises(ConfigError, match="--dp: differentially private training is built and tested for 2D images "
                                          "only; adrenalmnist3d holds 3D volumes"):
        meddl.train("adrenalmnist3d", tmp_path / "run", dp=True, epsilon=3.0, data_dir=shared_3d, epochs=1,
                    progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_2d_model_on_volumes_is_refused_naming_the_3d_models(shared_3d, tmp_path):
    import meddl

    with pytest.raises(ConfigError, match=r"model 'fast-cnn' takes 2D images but adrenalmnist3d holds 3D volumes: "
                                          r"choose one of .*fast-cnn-3d"):
        meddl.train("adrenalmnist3d", tmp_path / "run", model="fast-cnn", data_dir=shared_3d, epochs=1,
                    progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def _marked_volumes(shared_3d, tmp_path):
    """Real adrenal shapes split at random into two classes, the "marker" class carrying a bright 6^3 cube in one
    corner: the cube is the only signal, so a faithful explanation must point at it."""
    with np.load(SHARED_3D / "adrenalmnist3d.npz") as archive:
        volumes = archive["train_images"][:360]
    labels = np.arange(len(volumes)) % 2
    volumes = volumes.copy()
    volumes[labels == 1, :6, :6, 22:] = 255
    splits = {"train": slice(0, 240), "val": slice(240, 300), "test": slice(300, 360)}
    path = tmp_path / "marked.npz"
    np.savez(path, label_names=np.array(["plain", "marker"]),
             **{f"{s}_images": volumes[part] for s, part in splits.items()},
             **{f"{s}_labels": labels[part, None] for s, part in splits.items()})
    return path, volumes[splits["test"]], labels[splits["test"]]


@pytest.fixture(scope="module")
def marked_run(tmp_path_factory):
    if not (SHARED_3D / "adrenalmnist3d.npz").is_file():
        pytest.skip(f"shared MedMNIST 3D data not found at {SHARED_3D}")
    import meddl

    root = tmp_path_factory.mktemp("volumes")
    path, test_volumes, test_labels = _marked_volumes(SHARED_DATA, root)
    torch.set_num_threads(1)
    result = meddl.train(str(path), root / "run", epochs=4, augment=False, bootstrap=20, progress=False)
    return root / "run", result, test_volumes, test_labels


def test_a_volume_npz_trains_fast_cnn_3d_and_writes_the_whole_run(marked_run):
    run, result, _, _ = marked_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "fast-cnn-3d"
    assert metrics["split_sizes"] == {"train": 240, "val": 60, "test": 60}
    assert metrics["test"]["auc"] > 0.95  # the cube is easy: a model that does not learn it fails here
    report = (run / "report.html").read_text()
    assert 'alt="Test images with predictions"' in report and "Grad-CAM" in report


def test_a_reloaded_volume_model_predicts_what_the_run_scored(marked_run):
    from meddl.data.tensors import channels_first
    from meddl.tasks.image import load_classifier

    run, _, test_volumes, _ = marked_run
    module = load_classifier(run / "checkpoints" / "best.ckpt")
    assert module.hparams.spatial_dims == 3
    probs = module.predict_proba(channels_first(test_volumes[..., None]))
    rows = (run / "predictions_test.csv").read_text().splitlines()[1:]
    written = np.array([[float(v) for v in row.split(",")[3:]] for row in rows])
    np.testing.assert_allclose(probs, written, atol=1e-5)


def test_3d_grad_cam_points_at_the_cube_and_changes_with_random_weights(marked_run):
    """Grad-CAM in 3D: maps (N, D, H, W); on marked volumes the evidence for "marker" lies around the cube, and
    a freshly initialised model's maps rank voxels differently (Adebayo et al. 2018's randomisation check)."""
    from scipy.stats import spearmanr

    from meddl.explain import explain_images
    from meddl.tasks.image import load_classifier
    from meddl.tasks.image.module import ImageClassifier

    run, _, test_volumes, test_labels = marked_run
    module = load_classifier(run / "checkpoints" / "last.ckpt")
    marked = test_volumes[test_labels == 1][:8, ..., None]
    heat = explain_images(module, marked, "gradcam", target=1)
    assert heat.shape == (len(marked), 28, 28, 28)
    box = np.zeros((28, 28, 28), bool)
    box[:10, :10, 18:] = True  # the cube grown by one cell of the 7^3 Grad-CAM layer (4 voxels)
    share = (heat * box).sum(axis=(1, 2, 3)) / np.maximum(heat.sum(axis=(1, 2, 3)), 1e-12)
    # measured: 0.086-0.095 of the evidence in 4.6% of the volume; maps of the last stage (3^3, upsampled), which
    # centre on the shape, held 0.037
    assert share.mean() > 1.5 * box.mean(), share
    peaks = [np.unravel_index(h.argmax(), h.shape) for h in heat]
    assert np.mean([box[peak] for peak in peaks]) >= 0.75, peaks
    correlations = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        randomised = ImageClassifier(**module.hparams).eval()
        other = explain_images(randomised, marked, "gradcam", target=1)
        correlations += [0.0 if a.std() == 0 or b.std() == 0 else spearmanr(a.ravel(), b.ravel()).statistic
                         for a, b in zip(heat, other)]
    assert np.mean(correlations) < 0.5, correlations


def test_a_volume_model_exports_to_onnx_matching_torch(marked_run, tmp_path):
    from meddl.serve.export import export_onnx, read_metadata

    run, _, _, _ = marked_run
    result = export_onnx(run / "checkpoints" / "best.ckpt", tmp_path / "volume.onnx")
    assert result.max_abs_diff <= 1e-4
    card = read_metadata(result.path)
    assert card["spatial_dims"] == 3 and card["input"]["layout"] == "NCDHW"


def test_serving_and_file_prediction_refuse_a_volume_model_in_one_line(marked_run):
    from meddl.serve.service import load_served_model
    from meddl.tasks.base import task_for_checkpoint
    from meddl.tasks.image import load_classifier

    run, _, _, _ = marked_run
    checkpoint = run / "checkpoints" / "best.ckpt"
    with pytest.raises(ConfigError, match="a model of 3D volumes; the server takes 2D image uploads only"):
        load_served_model(checkpoint, backend="torch")
    module = load_classifier(checkpoint)
    task = task_for_checkpoint(checkpoint, torch.load(checkpoint, map_location="cpu", weights_only=False))
    with pytest.raises(ConfigError, match="classifies 3D volumes; predicting from image files is for 2D"):
        task.predict_files(module, [run / "report.html"])
    from meddl.explain.files import explain_files

    with pytest.raises(ConfigError, match="classifies 3D volumes; explaining image files is for 2D models"):
        explain_files(module, [run / "report.html"])


def test_a_volume_model_is_evaluated_again_on_a_named_split(marked_run, tmp_path):
    from meddl.api import evaluate

    run, _, _, _ = marked_run
    data = json.loads((run / "metrics.json").read_text())["config"]["dataset"]
    result = evaluate(run / "checkpoints" / "best.ckpt", dataset=data, split="val",
                            output_dir=tmp_path / "again", n_bootstrap=20)
    assert result.metrics["val"]["auc"] > 0.95


def test_data_verify_finds_copied_volumes_and_not_similar_sparse_shapes():
    """A volume copied into another split, and one copied with a few voxels changed, are leakage; two different
    small shapes whose mean voxel difference is tiny (they fill 1% of the cube) are not."""
    from meddl.data.types import DatasetInfo, ImageSplits
    from meddl.data.verify import verify

    rng = np.random.default_rng(0)
    dense = rng.integers(0, 256, (4, 16, 16, 16, 1), dtype=np.uint8)
    shapes = np.zeros((2, 16, 16, 16, 1), np.uint8)
    shapes[0, 6:9, 6:9, 6:9] = 255
    shapes[1, 6:9, 6:9, 7:10] = 255  # the same small cube moved by one voxel: half of it differs
    near_copy = dense[1].copy()
    near_copy[0, 0, :4] = 0
    train = np.concatenate([dense[:2], shapes[:1]])
    test = np.stack([dense[0], near_copy, shapes[1]])
    info = DatasetInfo("volumes", "binary", 1, ("a", "b"), {}, "test", spatial_dims=3)
    data = ImageSplits(info=info, labels={"train": np.zeros(3, np.int64), "test": np.zeros(3, np.int64)},
                       images={"train": train, "test": test})
    report = verify(data)
    assert report.exact_duplicates_across_splits == 1
    assert report.near_duplicates_across_splits == 1
    assert [f.kind for f in report.findings] == ["exact-duplicate", "near-duplicate"]


@pytest.mark.parametrize("info", [m for m in list_models() if m.spatial_dims == 3], ids=lambda info: info.name)
def test_every_volume_model_names_a_grad_cam_layer_with_3d_extent(info):
    """The registry's `cam_layer` exists on a real instance and is still a volume of side 2 or more at the smallest
    size the model is meant for (as for the 2D models in tests/explain)."""
    size = int(info.input_size.split("-")[0])
    net = create(info.name, 1, 2, image_size=size).eval()
    shapes = []
    handle = dict(net.named_modules())[info.cam_layer].register_forward_hook(
        lambda _module, _inputs, output: shapes.append(output.shape))
    with torch.no_grad():
        net(torch.zeros(1, 1, size, size, size))
    handle.remove()
    assert len(shapes) == 1 and len(shapes[0]) == 5 and min(shapes[0][2:]) >= 2, shapes


def test_the_gan_refuses_volumes_in_one_line(shared_3d, tmp_path):
    from meddl.api import synthesize

    with pytest.raises(DataError, match="adrenalmnist3d holds 3D volumes; the DCGAN makes 2D images"):
        synthesize("adrenalmnist3d", tmp_path / "gan", data_dir=shared_3d, epochs=1)
    assert not (tmp_path / "gan" / "checkpoints").exists()
