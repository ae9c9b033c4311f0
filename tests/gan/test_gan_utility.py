"""Utility of synthetic images (TSTR, augmentation gain with equal steps) and the whole `meddl gan evaluate` path,
on a small real PneumoniaMNIST subset with a GAN trained for a few epochs. The end-to-end utility test trains a GAN
and six classifiers (about a minute of CPU), so it is marked slow; the default run checks the data plumbing, the
equal-step comparison on its own (four tiny classifiers), the report and bad input."""

import json

import numpy as np
import pytest

from meddl.api import synthesis_summary as meddl_summary
from meddl.errors import ConfigError, MeddlError
from meddl.tasks.synthesis.utility import repeat_to, step_check, stratified_subset, write_real_npz


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


def test_repeat_to_makes_exactly_n_samples_of_whole_copies_and_a_seeded_remainder():
    images, labels = np.arange(10)[:, None], np.arange(10) % 3
    repeated, repeated_labels = repeat_to(images, labels, 25, seed=0)
    counts = np.bincount(repeated[:, 0], minlength=10)
    assert len(repeated) == 25 and set(counts) == {2, 3} and (counts == 3).sum() == 5
    np.testing.assert_array_equal(repeated_labels, labels[repeated[:, 0]])
    np.testing.assert_array_equal(repeated, repeat_to(images, labels, 25, seed=0)[0])
    assert len(repeat_to(images, labels, 10, seed=0)[0]) == 10
    with pytest.raises(ConfigError, match="fewer"):
        repeat_to(images, labels, 9, seed=0)


def test_augmentation_arms_take_equal_steps_and_the_gain_compares_them(tiny_pneumonia, tmp_path):
    """Two fast-cnn runs on real chest X-rays: 10% of 256 alone and with 128 added images. With equal epochs the
    10% arm (26 images, batch 128) would take 1 step and 10% + synthetic 2; with equal steps both take 2.
    (The slow end-to-end test below checks four arms over two fractions.)"""
    from meddl.data.npz import load_npz
    from meddl.tasks.synthesis.utility import augmentation_gain

    real = load_npz(tiny_pneumonia)
    # stand-ins for synthetic images (mirrored real training images): the step arithmetic is what is tested
    synthetic = (np.ascontiguousarray(real.images["train"][:128, :, ::-1]), real.labels["train"][:128])
    result = augmentation_gain(real, synthetic, tmp_path, fractions=(0.1,), epochs=1, seed=0, progress=False)
    n_real = len(stratified_subset(real.labels["train"], 0.1, seed=0))
    per_epoch = n_real + 128
    budget = result["augmentation_steps"]
    assert budget["samples_per_epoch"] == per_epoch and budget["batch_size"] == 128 and 128 < per_epoch <= 256
    assert budget["equal"] and budget["warning"] is None and budget["steps"] == 2  # ceil(per_epoch / 128), 1 epoch
    (row,) = result["augmentation"]
    alone, mixed = row["real_only"], row["real_plus_synthetic"]
    assert (row["n_real"], row["n_synthetic"]) == (n_real, 128)
    # counted during training, not planned: both arms took the same optimiser steps, over as many samples
    assert alone["steps"] == mixed["steps"] == row["steps"] == 2
    assert alone["n_train"] == mixed["n_train"] == per_epoch
    assert (alone["n_distinct"], mixed["n_distinct"]) == (n_real, per_epoch)
    assert alone["passes"] == round(per_epoch / n_real, 2) and mixed["passes"] == 1
    assert row["auc_gain"] == pytest.approx(mixed["auc"] - alone["auc"])
    with np.load(tmp_path / "data" / "real_10.npz") as archive:
        assert archive["train_images"].shape[0] == per_epoch and len(archive["test_images"]) == 120


def test_unequal_steps_carry_a_warning_that_names_the_arms():
    arm = {"batch_size": 128}
    rows = [{"fraction": 0.1, "real_only": {**arm, "steps": 1}, "real_plus_synthetic": {**arm, "steps": 3}}]
    check = step_check(rows, epochs=1, per_epoch=288)
    assert not check["equal"] and check["steps"] is None
    assert "real only at 10%: 1, real plus synthetic at 10%: 3" in check["warning"]
    assert "training longer" in check["warning"]


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
    # quality leads: the cards, then FID, precision/recall and memorisation, then samples; losses come last
    assert saved["report"] and report.index('class="card"') < report.index(">Domain FID<") < report.index(
        "Quality: fidelity, diversity, memorisation") < report.index("Samples per class") < report.index(
        "Training losses")
    assert "Kynkäänniemi" in report and "Memorisation" in report and "D loss (last epoch)" not in report
    assert report.count('alt="nearest training images') == 2
    assert "Use for classification" in report and "Not run" in report


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
    assert utility["trtr"]["steps"] == 2 and utility["tstr"]["steps"] == 1  # one epoch at batch 128
    assert utility["tstr_over_trtr"] == pytest.approx(utility["tstr"]["auc"] / utility["trtr"]["auc"])
    half, full = utility["augmentation"]
    assert (half["fraction"], full["fraction"]) == (0.5, 1.0)
    assert half["real_plus_synthetic"]["n_distinct"] == half["n_real"] + 80
    assert full["real_only"]["n_distinct"] == 256 and full["real_plus_synthetic"]["n_distinct"] == 256 + 80
    assert utility["augmentation_steps"]["equal"] and utility["augmentation_steps"]["steps"] == 3  # ceil(336/128)
    for row in (half, full):
        assert row["real_only"]["steps"] == row["real_plus_synthetic"]["steps"] == 3
        assert row["auc_gain"] == pytest.approx(row["real_plus_synthetic"]["auc"] - row["real_only"]["auc"])
        assert len(row["real_plus_synthetic"]["auc_ci95"]) == 2
    report = (gan_run.parent.parent / "report.html").read_text()
    assert report.index("Samples per class") < report.index("Train on synthetic, test on real") < report.index(
        "Augmentation</h3>") < report.index("Training losses")
    assert "Equal steps: every classifier (fast-cnn) trains 1 epoch(s) of 336 samples" in report
    assert "every classifier 3 steps" in meddl_summary(metrics)


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
