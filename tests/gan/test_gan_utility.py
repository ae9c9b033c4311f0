"""Utility of synthetic images (TSTR, augmentation gain) and the whole `meddl gan evaluate` path, on a small real
PneumoniaMNIST subset with a GAN trained for one epoch. The end-to-end tests train a GAN and five classifiers
(about a minute of CPU), so they are marked slow; the default run checks the data plumbing and bad input."""

import json

import numpy as np
import pytest

from meddl.errors import ConfigError, MeddlError
from meddl.tasks.synthesis.utility import stratified_subset, write_real_npz


def test_stratified_subset_keeps_class_proportions_and_is_seeded():
    labels = np.array([0] * 80 + [1] * 20 + [2] * 3)
    keep = stratified_subset(labels, 0.25, seed=1)
    assert np.bincount(labels[keep]).tolist() == [20, 5, 1]  # at least one of a rare class
    np.testing.assert_array_equal(keep, stratified_subset(labels, 0.25, seed=1))
    assert not np.array_equal(keep, stratified_subset(labels, 0.25, seed=2))
    assert len(stratified_subset(labels, 1.0, seed=0)) == len(labels)
    with pytest.raises(ConfigError, match="fraction"):
        stratified_subset(labels, 0.0, seed=0)


def test_real_npz_fractions_and_synthetic_extra_load_as_a_dataset(tiny_pneumonia, tmp_path):
    from meddl.data.npz import load_npz

    real = load_npz(tiny_pneumonia)
    counts = np.bincount(real.labels["train"])
    half = [max(1, round(c / 2)) for c in counts]
    extra = (np.zeros((7, 28, 28, 1), dtype=np.uint8), np.ones(7, dtype=np.int64))
    path = write_real_npz(real, tmp_path / "mix.npz", fraction=0.5, seed=0, extra=extra)
    with np.load(path) as archive:
        n = sum(half) + 7
        assert archive["train_images"].shape == (n, 28, 28) and archive["train_labels"].shape == (n, 1)
        assert archive["label_names"].tolist() == ["normal", "pneumonia"]
    mixed = load_npz(path)
    assert np.bincount(mixed.labels["train"]).tolist() == [half[0], half[1] + 7]
    np.testing.assert_array_equal(mixed.images["test"], real.images["test"])
    np.testing.assert_array_equal(mixed.images["val"], real.images["val"])
    assert mixed.info.labels == real.info.labels and mixed.info.task == "binary"


@pytest.fixture(scope="module")
def gan_run(tiny_gan_run):
    """The checkpoint of the GAN tests' shared tiny run (tests/gan/conftest.py): 256 real chest X-rays."""
    return tiny_gan_run[0].checkpoint


@pytest.fixture(scope="module")
def evaluated(gan_run, tmp_path_factory):
    """One evaluation of quality only (its classifier trained for one epoch); utility is the slow tests'."""
    from meddl.tasks.synthesis.evaluation import evaluate_gan

    out = tmp_path_factory.mktemp("eval")
    return out, evaluate_gan(gan_run, out, n=64, classifier_epochs=1, tstr=False, augmentation=False,
                             progress=False)


def test_evaluate_gan_writes_quality_metrics_figures_and_report(gan_run, evaluated):
    out, metrics = evaluated
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n_synthetic"] == 64 and saved["domain"]["fid"] == metrics["domain"]["fid"]
    domain = saved["domain"]
    assert domain["fid"] > 0 and domain["fid_real_test_vs_train"] >= 0 and domain["feature_dim"] == 128
    assert 0 <= domain["precision"] <= 1 and 0 <= domain["recall"] <= 1 and domain["n_manifold"] == 64
    for space in ("pixels", "features"):
        assert 0 <= saved["memorisation"][space]["flagged_fraction"] <= 1
        assert (out / "figures" / f"nearest_training_{space}.png").is_file()
    assert saved["inception"]["fid"] is None and "no Inception weights" in saved["inception"]["skipped"]
    assert "tstr" not in saved["utility"] and "augmentation" not in saved["utility"]
    report = (gan_run.parent.parent / "report.html").read_text()
    assert saved["report"] and "Quality metrics" in report and "near_copies_pixels" in report


def test_second_evaluation_reuses_the_real_data_classifier(gan_run, evaluated):
    from meddl.tasks.synthesis.evaluation import evaluate_gan

    out, _ = evaluated
    checkpoint = out / "classifier" / "checkpoints" / "best.ckpt"
    stamp = checkpoint.stat().st_mtime_ns
    again = evaluate_gan(gan_run, out, n=32, classifier_epochs=1, tstr=False, augmentation=False, progress=False)
    assert checkpoint.stat().st_mtime_ns == stamp and again["n_synthetic"] == 32
    assert again["domain"]["classifier"] == str(checkpoint)


@pytest.mark.slow
def test_evaluate_gan_tstr_and_augmentation(gan_run, evaluated):
    from meddl.tasks.synthesis.evaluation import evaluate_gan

    out, _ = evaluated
    metrics = evaluate_gan(gan_run, out, n=80, classifier_epochs=1, fractions=(0.5, 1.0), progress=False)
    utility = json.loads((out / "metrics.json").read_text())["utility"]
    assert utility == json.loads(json.dumps(metrics["utility"]))
    assert utility["trtr"]["n_train"] == 256 and utility["tstr"]["n_train"] == 72  # 90% of 80 synthetic
    assert utility["tstr_over_trtr"] == pytest.approx(utility["tstr"]["auc"] / utility["trtr"]["auc"])
    half, full = utility["augmentation"]
    assert (half["fraction"], full["fraction"]) == (0.5, 1.0)
    assert half["real_plus_synthetic"]["n_train"] == half["n_real"] + 80
    assert full["real_only"] == utility["trtr"] and full["real_plus_synthetic"]["n_train"] == 256 + 80
    for row in (half, full):
        assert row["auc_gain"] == pytest.approx(row["real_plus_synthetic"]["auc"] - row["real_only"]["auc"])
        assert len(row["real_plus_synthetic"]["auc_ci95"]) == 2
    assert "tstr_over_trtr" in (gan_run.parent.parent / "report.html").read_text()


def test_evaluate_gan_refuses_a_classifier_checkpoint_missing_file_and_bad_n(tmp_path):
    import torch

    from meddl.tasks.synthesis.evaluation import evaluate_gan
    from meddl.tasks.image import load_classifier
    from meddl.tasks.image.module import ImageClassifier

    module = ImageClassifier(model="fast-cnn", task="binary", labels=["a", "b"], in_channels=1, image_size=28)
    classifier = tmp_path / "best.ckpt"  # what a classifier's best.ckpt holds: hyper-parameters and weights
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, classifier)
    load_classifier(classifier)  # a valid classifier checkpoint, so the refusal below is about its kind
    with pytest.raises(MeddlError, match="holds an image classifier; this command takes a GAN generator"):
        evaluate_gan(classifier, tmp_path, n=10, progress=False)
    for bad in (0, -3):
        with pytest.raises(ConfigError, match="positive"):
            evaluate_gan(classifier, tmp_path, n=bad, progress=False)
    with pytest.raises(ConfigError, match="classifier_epochs"):
        evaluate_gan(classifier, tmp_path, classifier_epochs=0, progress=False)
    with pytest.raises(MeddlError, match="not found"):
        evaluate_gan(tmp_path / "absent.ckpt", tmp_path, progress=False)
