"""Sampling from a trained GAN: MedMNIST-layout output that meddl loads and trains on; clear errors on bad input."""

import numpy as np
import pytest

import meddl
from meddl.cli import main
from meddl.data import load_dataset
from meddl.data.npz import load_npz
from meddl.errors import ConfigError, DataError, MeddlError
from meddl.tasks.synthesis.sampling import load_generator, sample_images, write_samples


def test_samples_follow_the_request(tiny_gan_run):
    bundle = load_generator(tiny_gan_run[0].checkpoint)
    assert (bundle.labels, bundle.n_channels, bundle.image_size, bundle.conditional) == (
        ["normal", "pneumonia"], 1, 28, True)
    images, labels = sample_images(bundle, 50, seed=3)
    assert images.shape == (50, 28, 28, 1) and images.dtype == np.uint8 and labels.shape == (50,)
    assert set(labels) <= {0, 1}
    again, _ = sample_images(bundle, 50, seed=3)
    assert np.array_equal(images, again)  # seeded
    _, only = sample_images(bundle, 7, label="pneumonia")
    assert (only == 1).all()
    _, by_index = sample_images(bundle, 7, label=0)
    assert (by_index == 0).all()


def test_unknown_label_and_bad_n_are_refused(tiny_gan_run):
    bundle = load_generator(tiny_gan_run[0].checkpoint)
    with pytest.raises(ConfigError, match=r"unknown label 'tumour'.*0 \(normal\), 1 \(pneumonia\)"):
        sample_images(bundle, 5, label="tumour")
    with pytest.raises(ConfigError, match="unknown label 7"):
        sample_images(bundle, 5, label=7)
    for n in (0, -3):
        with pytest.raises(ConfigError, match="positive number"):
            sample_images(bundle, n)


def test_written_samples_load_as_a_dataset_and_train_a_classifier(tiny_gan_run, tmp_path, capsys):
    result, source = tiny_gan_run
    code = main(["gan", "sample", str(result.checkpoint), "--n", "120", "--output-dir", str(tmp_path / "syn")])
    assert code == 0
    out = capsys.readouterr().out
    npz = tmp_path / "syn" / "synthetic.npz"
    assert str(npz) in out and str(tmp_path / "syn" / "png") in out
    assert len(list((tmp_path / "syn" / "png").rglob("*.png"))) == 120
    data = load_dataset(str(npz))
    assert data.info.labels == ("normal", "pneumonia") and data.info.task == "binary"
    assert len(data.images["train"]) + len(data.images["val"]) == 120
    with np.load(source) as real:  # the test split is the real one
        assert np.array_equal(data.images["test"][..., 0], real["test_images"])
    run = meddl.train(str(npz), tmp_path / "tstr", epochs=1, bootstrap=10, progress=False)
    assert 0.0 <= run.metrics["test"]["auc"] <= 1.0
    # a classifier checkpoint is not a generator: one clear line from the CLI
    assert main(["gan", "sample", str(run.checkpoint), "--n", "5"]) == 2
    assert "holds an image classifier; this command takes a GAN generator" in capsys.readouterr().err


def test_generator_loading_names_the_problem(tmp_path):
    with pytest.raises(MeddlError, match="not found"):
        load_generator(tmp_path / "missing.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(MeddlError, match="not a readable checkpoint"):
        load_generator(junk)


def test_npz_loader_names_missing_arrays_and_resizes(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 28, 28, 3), dtype=np.uint8)
    labels = np.array([[0], [1], [2], [0], [1], [2]])
    path = tmp_path / "mine.npz"
    np.savez(path, train_images=images, train_labels=labels, val_images=images, val_labels=labels)
    with pytest.raises(DataError, match="missing array.*test_images, test_labels"):
        load_npz(path)
    np.savez(path, train_images=images, train_labels=labels, val_images=images, val_labels=labels,
             test_images=images, test_labels=labels)
    data = load_npz(path, size=64)
    assert data.info.labels == ("0", "1", "2") and data.info.task == "multi-class" and data.info.n_channels == 3
    assert data.images["train"].shape == (6, 64, 64, 3)


def test_write_samples_uses_the_given_real_test_split(tiny_gan_run, tmp_path):
    bundle = load_generator(tiny_gan_run[0].checkpoint)
    images, labels = sample_images(bundle, 20)
    test = (images[:4], np.array([0, 1, 0, 1]))
    with np.load(write_samples(bundle, images, labels, tmp_path, real_test=test)) as archive:
        assert archive["train_labels"].shape == (18, 1) and archive["val_labels"].shape == (2, 1)
        assert np.array_equal(archive["test_labels"].reshape(-1), [0, 1, 0, 1])
        assert list(archive["label_names"]) == ["normal", "pneumonia"]
