"""GAN training on real chest X-rays: D learns to tell real from noise, resume continues, collapse is detected."""

import json

import numpy as np
import pytest
import torch

from meddl.errors import ConfigError, MeddlError
from meddl.tasks.synthesis.collapse import CollapseDetector, mean_pairwise_distance
from meddl.api import synthesize
from meddl.tasks.synthesis.training import RUN_FILE


def _real_vs_noise_accuracy(discriminator, images: np.ndarray, labels: np.ndarray) -> float:
    """D's accuracy telling real images (logit > 0) from uniform noise (logit < 0), both labelled alike."""
    discriminator.eval()
    real = torch.from_numpy(images[:, None]).float() / 127.5 - 1  # MedMNIST greyscale: (N, 28, 28)
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = torch.from_numpy(labels.reshape(-1)).long()
    with torch.no_grad():
        return float(((discriminator(real, y) > 0).float().mean() + (discriminator(noise, y) < 0).float().mean()) / 2)


def test_training_lowers_the_discriminators_error_on_real_vs_noise(tiny_gan_run):
    import lightning as L

    from meddl.tasks.synthesis.module import GanModule

    result, data = tiny_gan_run
    with np.load(data) as archive:
        images, labels = archive["val_images"], archive["val_labels"]
    trained = torch.load(result.checkpoint, map_location="cpu", weights_only=False)
    L.seed_everything(0, verbose=False)  # meddl seeds the same way before building, so these are the start weights
    module = GanModule(**trained["hyper_parameters"])
    before = _real_vs_noise_accuracy(module.discriminator, images, labels)
    module.load_state_dict(trained["state_dict"])
    after = _real_vs_noise_accuracy(module.discriminator, images, labels)
    assert after > before + 0.1 and after >= 0.75, (before, after)


def test_run_records_history_samples_and_report(tiny_gan_run):
    result, _ = tiny_gan_run
    assert [row["epoch"] for row in result.metrics["history"]] == [1, 2, 3]
    for key in ("train_d_loss", "train_g_loss", "train_d_real_acc", "train_d_fake_acc"):
        assert all(np.isfinite(row[key]) for row in result.metrics["history"])
    assert sorted(p.name for p in (result.output_dir / "samples").glob("*.png")) == [
        "epoch_001.png", "epoch_002.png", "epoch_003.png"]
    run = json.loads((result.output_dir / RUN_FILE).read_text())
    assert run["labels"] == ["normal", "pneumonia"] and run["epochs_trained"] == 3
    html = result.report.read_text()
    assert "Samples per class" in html and "data:image/png;base64," in html
    # before `meddl gan evaluate` the page still leads with quality (saying it is not measured yet), losses last
    assert html.index("not evaluated") < html.index("Samples per class") < html.index("Training losses")
    assert "Use for classification" not in html


def test_resume_continues_from_the_last_epoch(tiny_pneumonia, tmp_path):
    options = dict(batch_size=64, width=8, sample_every=5, progress=False, precision="32-true")
    synthesize(str(tiny_pneumonia), tmp_path / "run", epochs=1, **options)
    with pytest.raises(MeddlError, match="already holds a run"):
        synthesize(str(tiny_pneumonia), tmp_path / "run", epochs=2, **options)
    result = synthesize(str(tiny_pneumonia), tmp_path / "run", epochs=2, resume=True, **options)
    assert [row["epoch"] for row in result.metrics["history"]] == [1, 2]
    assert torch.load(result.checkpoint, map_location="cpu", weights_only=False)["epoch"] == 1  # 0-based: 2 done


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="loss must be one of"):
        synthesize("pneumoniamnist", tmp_path, loss="hinge")
    with pytest.raises(ConfigError, match="unknown GAN option"):
        synthesize("pneumoniamnist", tmp_path, learning_rate=1)
    with pytest.raises(MeddlError, match="no .*last.ckpt"):
        synthesize("pneumoniamnist", tmp_path, resume=True)


def test_detector_flags_a_winning_discriminator_and_stops_after_patience():
    detector = CollapseDetector(patience=3)
    assert detector.update(1, 1.3) == []
    assert detector.update(2, 0.01) and not detector.should_stop
    detector.update(3, 0.02)
    detector.update(4, 0.005)
    assert detector.should_stop and "discriminator loss" in detector.stop_reason
    assert detector.summary()["stopped"] and len(detector.summary()["events"]) == 3


def test_detector_flags_near_identical_class_samples_only():
    rng = np.random.default_rng(0)
    real = rng.random((50, 28, 28, 1))
    detector = CollapseDetector(real_diversity={"normal": mean_pairwise_distance(real),
                                                "pneumonia": mean_pairwise_distance(real)})
    collapsed = np.repeat(rng.random((1, 28, 28, 1)), 20, axis=0) + rng.normal(0, 0.01, (20, 28, 28, 1))
    diverse = rng.random((20, 28, 28, 1))
    warnings = detector.update(1, None, {"normal": diverse, "pneumonia": collapsed})
    assert len(warnings) == 1 and "'pneumonia'" in warnings[0]
    assert detector.update(2, 1.2, {"normal": diverse, "pneumonia": diverse}) == []
    assert detector.streak == 0 and not detector.should_stop


def test_mean_pairwise_distance_by_hand():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])  # distances 5, 0, 5
    assert mean_pairwise_distance(points) == pytest.approx(10 / 3)
