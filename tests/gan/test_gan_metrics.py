"""GAN quality metrics on distributions whose answers are known: FID, precision/recall, memorisation, the FID
Inception network's loader, and domain features from a meddl classifier."""

import numpy as np
import pytest
import torch

from meddl.errors import DataError, MeddlError
from meddl.tasks.synthesis.metrics import (fid, frechet_distance, memorisation, nearest, nearest_pairs_figure, pixels,
                               precision_recall)

RNG = np.random.default_rng(0)


def gaussian(n, d, mean=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(mean, scale, size=(n, d))


def test_fid_of_identical_sets_is_zero():
    x = gaussian(500, 8)
    assert fid(x, x.copy()) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_shifted_and_scaled_gaussians_matches_the_closed_form():
    d, n = 8, 20000
    # N(0, I) vs N(m, I): ||m||^2; vs N(0, 4I): d * (1 + 4 - 2 * 2) = d
    shifted = fid(gaussian(n, d, seed=1), gaussian(n, d, mean=3.0, seed=2))
    assert shifted == pytest.approx(9.0 * d, rel=0.03)
    assert fid(gaussian(n, d, seed=3), gaussian(n, d, scale=2.0, seed=4)) == pytest.approx(d, rel=0.05)
    assert fid(gaussian(n, d, seed=5), gaussian(n, d, seed=6)) < 0.02  # same law, independent draws


def test_frechet_distance_with_exact_parameters():
    mu1, mu2 = np.array([0.0, 1.0]), np.array([2.0, 1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    # 4 + sum((sqrt(a) - sqrt(b))^2) = 4 + (1 - 3)^2 + (2 - 1)^2
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(9.0)


def test_fid_with_fewer_samples_than_dimensions_stays_finite():
    value = fid(gaussian(20, 64, seed=1), gaussian(20, 64, mean=1.0, seed=2))
    assert np.isfinite(value) and value > 30


def test_fid_rejects_mismatched_or_broken_features():
    with pytest.raises(DataError, match="dimensions"):
        fid(gaussian(10, 4), gaussian(10, 5))
    bad = gaussian(10, 4)
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fid(bad, gaussian(10, 4))


def test_nearest_matches_brute_force():
    a, b = gaussian(300, 5, seed=1), gaussian(2100, 5, seed=2)
    distances, indices = nearest(a, b, k=2)
    brute = np.linalg.norm(a[:, None] - b[None], axis=2)
    np.testing.assert_array_equal(indices[:, 0], brute.argmin(axis=1))
    np.testing.assert_allclose(distances[:, 1], np.sort(brute, axis=1)[:, 1], rtol=1e-6)


def test_precision_recall_on_identical_disjoint_and_half_overlapping_sets():
    real = gaussian(1000, 2, seed=1)
    same = precision_recall(real, real.copy())
    assert (same.precision, same.recall) == (1.0, 1.0)
    far = precision_recall(real, gaussian(1000, 2, mean=50.0, seed=2))
    assert (far.precision, far.recall) == (0.0, 0.0)
    draws = precision_recall(real, gaussian(1000, 2, seed=3))  # same law: both high in 2-D
    assert draws.precision > 0.9 and draws.recall > 0.9
    # half the synthetic set on the real manifold, half far away: fidelity halves, recall stays high
    half = precision_recall(real, np.concatenate([gaussian(500, 2, seed=4), gaussian(500, 2, mean=50.0, seed=5)]))
    assert half.precision == pytest.approx(0.5, abs=0.05)
    assert half.recall > 0.8


def test_memorisation_flags_planted_copies_of_training_images():
    train, test = gaussian(2000, 6, seed=1), gaussian(500, 6, seed=2)
    fake = gaussian(400, 6, seed=3)
    planted = [7, 70, 300]
    fake[planted] = train[[11, 12, 13]]
    result = memorisation(train, test, fake, n_worst=5)
    assert result.exact_copies == 3
    assert sorted((i, j) for i, j, _ in result.worst[:3]) == [(7, 11), (70, 12), (300, 13)]
    assert result.expected_fraction == pytest.approx(0.01, abs=0.005)
    # the honest samples flag about as often as unseen real ones do; the copies add exactly their share
    assert result.flagged_fraction < 0.05 and result.n_flagged >= 3


def test_memorisation_in_pixel_space_and_its_figure():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(200, 8, 8, 1), dtype=np.uint8)
    test = rng.integers(0, 256, size=(50, 8, 8, 1), dtype=np.uint8)
    fake = rng.integers(0, 256, size=(30, 8, 8, 1), dtype=np.uint8)
    fake[4] = train[9]
    result = memorisation(pixels(train), pixels(test), pixels(fake), n_worst=3)
    assert result.worst[0][:2] == (4, 9) and result.worst[0][2] == pytest.approx(0.0, abs=1e-6)
    png = nearest_pairs_figure(fake, train, result, "test")
    assert png.startswith(b"\x89PNG")


# --- standard FID Inception network ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inception():
    from meddl.tasks.synthesis.inception import FIDInceptionV3

    torch.manual_seed(0)
    return FIDInceptionV3().eval()


def test_inception_gives_2048_features_for_gray_images(inception):
    from meddl.tasks.synthesis.inception import inception_features

    gray = np.random.default_rng(0).integers(0, 256, size=(1, 28, 28, 1), dtype=np.uint8)
    features = inception_features(inception, gray)
    assert features.shape == (1, 2048) and np.isfinite(features).all() and (features >= 0).all()  # post-ReLU pool


def test_inception_weights_round_trip_through_the_loader(inception, tmp_path):
    from meddl.tasks.synthesis.inception import load_inception

    # the published file predates BatchNorm's num_batches_tracked buffers: the loader must accept it without them
    state = {k: v for k, v in inception.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "pt_inception.pth"
    torch.save(state, path)
    loaded = load_inception(path).state_dict()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, msg=key)


def test_inception_loader_names_wrong_keys_and_missing_files(inception, tmp_path, monkeypatch):
    from meddl.tasks.synthesis.inception import WEIGHTS_ENV, load_inception, resolve_weights

    state = inception.state_dict()
    state["Mixed_7c.branch_pool.conv.weights"] = state.pop("Mixed_7c.branch_pool.conv.weight")
    state["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's ImageNet head, not the FID network's 1008
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    expected = (r"missing keys: Mixed_7c\.branch_pool\.conv\.weight.*"
                r"unexpected keys: Mixed_7c\.branch_pool\.conv\.weights.*wrong shapes: fc\.weight")
    with pytest.raises(MeddlError, match=expected):
        load_inception(path)
    with pytest.raises(MeddlError, match="not found"):
        load_inception(tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(MeddlError, match="not a readable"):
        load_inception(tmp_path / "junk.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    assert resolve_weights(None) == path and resolve_weights(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv(WEIGHTS_ENV)
    assert resolve_weights(None) is None


# --- domain features --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, dim", [("fast-cnn", 128), ("seed-cnn", 1024)])
def test_classifier_features_are_the_final_linear_input(model, dim):
    from meddl.tasks.synthesis.features import check_matches, classifier_features
    from meddl.tasks.image.module import ImageClassifier

    module = ImageClassifier(model=model, task="multi-class", labels=["a", "b", "c"], in_channels=3, image_size=28)
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 3), dtype=np.uint8)
    features = classifier_features(module.eval(), images, batch_size=2)
    assert features.shape == (5, dim)
    # the features feed the output layer: applying it reproduces the classifier's logits
    head = [m for m in module.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        logits = module(module.normalise(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())))
        torch.testing.assert_close(head(torch.from_numpy(features).float()), logits, rtol=1e-4, atol=1e-4)
    check_matches(module, ["a", "b", "c"], 3, 28, "ckpt")
    with pytest.raises(MeddlError, match="trained on labels"):
        check_matches(module, ["a", "b"], 3, 28, "ckpt")
