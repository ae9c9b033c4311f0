"""The image recipe options (issue 16): an ensemble's output is the mean of its members' probabilities, EMA and SWA
weights are what is validated, saved and evaluated, test-time augmentation repeats exactly and is the mean over its
views, and an ensemble with TTA exports to ONNX within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meddl.errors import ConfigError
from meddl.models import create
from meddl.models.ensemble import Ensemble, explained_networks, head_for, mean_probability_logits
from meddl.tasks import get_task, load_model
from meddl.tasks.image import outputs as classification
from meddl.tasks.image.augment import POLICIES
from meddl.tasks.image.tta import ViewAverage, View, views_for
from meddl.tasks.runner import fit_task, train_on


@pytest.mark.parametrize("task", ["binary", "multi-class", "multi-label", "ordinal"])
def test_ensemble_probabilities_are_the_mean_of_its_members(task):
    torch.manual_seed(0)
    outputs = classification.n_outputs(task, 5)
    members = [create("fast-cnn", 3, outputs) for _ in range(3)]
    for member in members:
        member.eval()
    ensemble = Ensemble(members, head_for(task)).eval()
    images = torch.randn(6, 3, 28, 28) * 3  # large inputs: confident members, where a naive log would overflow
    with torch.no_grad():
        got = classification.probabilities(task, ensemble(images))
        if task == "ordinal":  # the mean of the cumulative probabilities, then classes as their differences
            cumulative = torch.stack([torch.sigmoid(m(images)) for m in members]).mean(0)
            expected = classification.probabilities(task, torch.logit(cumulative.double()).float())
        else:
            expected = torch.stack([classification.probabilities(task, m(images)) for m in members]).mean(0)
    assert torch.allclose(got, expected, atol=1e-6)


def test_mean_probability_logits_stay_finite_for_certain_members():
    stacked = torch.tensor([[[80.0, -80.0]], [[-80.0, 80.0]]])
    for head in ("softmax", "sigmoid"):
        combined = mean_probability_logits(stacked, head)
        assert torch.isfinite(combined).all()
    assert torch.allclose(torch.softmax(mean_probability_logits(stacked, "softmax"), 1), torch.tensor([[0.5, 0.5]]))


def _fit(tmp_path, **options):
    task = get_task("image")
    data = task.example_data()
    config = task.make_config("example-images", epochs=3, batch_size=32, bootstrap=20, **options)
    plan, fit = fit_task(task, config, data, tmp_path, progress=False)
    return task, data, plan, fit


@pytest.mark.parametrize("average", ["ema", "swa"])
def test_averaged_weights_are_what_is_selected_saved_and_evaluated(tmp_path, one_thread, average):
    task, data, plan, fit = _fit(tmp_path, weight_average=average, swa_start=0.3)
    raw = torch.load(fit.last_checkpoint, map_location="cpu", weights_only=False)
    state = raw["state_dict"]
    averaged = {k.removeprefix("averaged.module."): v for k, v in state.items() if k.startswith("averaged.module.")}
    trained = {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    assert averaged and averaged.keys() == trained.keys()
    assert any(not torch.equal(averaged[k], trained[k]) for k in averaged)  # averaging changed something
    _, module = load_model(fit.last_checkpoint)
    loaded = module.net.state_dict()
    assert all(torch.equal(loaded[k], averaged[k]) for k in averaged)  # the deployed net is the averaged one
    assert module.averaged is None
    # the validation score the run selected on is that of the averaged weights
    _, module = load_model(fit.best_checkpoint)
    val = task.predict(module, data, "val")
    from meddl.evaluate.metrics import compute_metrics

    auc = compute_metrics("binary", data.labels["val"], val, list(data.info.labels))["auc"]
    best = next(row for row in fit.history if row["epoch"] == fit.best_epoch)
    assert best["val_auc"] == pytest.approx(auc, abs=1e-6)


def test_swa_averages_only_from_its_start_epoch(tmp_path, one_thread):
    _, _, plan, fit = _fit(tmp_path, weight_average="swa", swa_start=0.5)  # 3 epochs: epochs 1 and 2 averaged
    raw = torch.load(fit.last_checkpoint, map_location="cpu", weights_only=False)
    assert int(raw["state_dict"]["averaged.n_averaged"]) == 2


def test_ensemble_members_start_as_their_own_seeds_would(tmp_path, one_thread):
    from meddl.tasks.image.module import ImageClassifier

    def net(seed, ensemble=1):
        torch.manual_seed(seed)
        return ImageClassifier("fast-cnn", "binary", ["a", "b"], 1, 28, seed=seed, ensemble=ensemble).net

    ensemble = net(4, ensemble=3)
    for k, member in enumerate(ensemble.members):
        alone = net(4 + k)
        assert all(torch.equal(a, b) for a, b in zip(member.state_dict().values(), alone.state_dict().values()))


def test_an_ensemble_trains_evaluates_explains_and_exports_as_one_model(tmp_path, one_thread):
    from meddl.explain.heatmaps import explain_images
    from meddl.serve.export import export_onnx

    task = get_task("image")
    data = task.example_data()
    config = task.make_config("example-images", epochs=2, batch_size=32, bootstrap=20, ensemble=2,
                              weight_average="ema", tta=True)
    result = train_on(task, config, data, tmp_path, progress=False)
    assert 0 <= result.metrics["test"]["auc"] <= 1
    _, module = load_model(tmp_path / "checkpoints" / "best.ckpt")
    assert isinstance(module.net, ViewAverage) and isinstance(module.net.wrapped, Ensemble)
    assert len(explained_networks(module.net)) == 2
    heat = explain_images(module, data.images["test"][:4])
    assert heat.shape == (4, 28, 28) and heat.max() == pytest.approx(1.0)
    exported = export_onnx(tmp_path / "checkpoints" / "best.ckpt")
    assert exported.max_abs_diff <= 1e-4
    # the HTTP API serves the ensemble (with its TTA) as one model, from the ONNX file
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from meddl.serve.app import create_app
    from meddl.serve.service import load_served_model

    client = TestClient(create_app(load_served_model(tmp_path / "checkpoints" / "best.ckpt", "onnx"), api_key="k"))
    picture = io.BytesIO()
    Image.fromarray(data.images["test"][0][:, :, 0]).save(picture, "PNG")
    response = client.post("/v1/predict", files={"file": ("a.png", picture.getvalue(), "image/png")},
                           headers={"X-API-Key": "k"})
    assert response.status_code == 200, response.text
    served = response.json()["probabilities"]
    expected = module.predict_proba(torch.from_numpy(data.images["test"][:1].transpose(0, 3, 1, 2).copy()))[0]
    assert np.allclose([served[label] for label in data.info.labels], expected, atol=1e-4)


def test_tta_is_the_mean_over_its_views_and_repeats_exactly():
    torch.manual_seed(0)
    net = create("fast-cnn", 1, 2).eval()
    views = views_for(POLICIES["xray"])
    tta = ViewAverage(net, views, "softmax").eval()
    images = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        first, second = tta(images), tta(images.clone())
        expected = torch.stack([torch.softmax(net(view.apply(images)), 1) for view in views]).mean(0)
    assert torch.equal(first, second)
    assert torch.allclose(torch.softmax(first, 1), expected, atol=1e-6)


def test_tta_views_respect_what_the_anatomy_allows():
    xray = views_for(POLICIES["xray"])
    assert all(not (v.mirror or v.vertical_mirror or v.quarter_turns) for v in xray) and len(xray) == 5
    assert len(views_for(POLICIES["histology"])) == 8  # every symmetry of the square
    fundus = views_for(POLICIES["fundus"])
    assert len(fundus) == 4 and not any(v.quarter_turns for v in fundus)
    assert views_for(POLICIES["ultrasound"]) == (View(), View(mirror=True))
    image = torch.arange(9.0).view(1, 1, 3, 3)
    shifted = View(dx=1).apply(image)
    assert torch.equal(shifted[0, 0, :, 1:], image[0, 0, :, :2]) and torch.equal(shifted[0, 0, :, 0], image[0, 0, :, 0])


def test_recipe_options_are_checked_and_refused_where_they_do_not_apply():
    image = get_task("image")
    with pytest.raises(ConfigError, match="ensemble"):
        image.make_config("x", ensemble=0)
    with pytest.raises(ConfigError, match="weight_average"):
        image.make_config("x", weight_average="polyak")
    with pytest.raises(ConfigError, match="--dp"):
        image.make_config("x", dp=True, epsilon=3.0, ensemble=2)
    with pytest.raises(ConfigError, match="ensemble, tta: options of image classifiers"):
        get_task("sequence").make_config("mitdb", ensemble=3, tta=True)


def test_one_member_without_averaging_trains_exactly_as_before(tmp_path, one_thread):
    """The default recipe builds a plain network (no wrapper), so earlier checkpoints and seeded runs repeat."""
    _, _, plan, fit = _fit(tmp_path)
    assert not isinstance(plan.module.net, Ensemble) and plan.module.averaged is None
    keys = torch.load(fit.best_checkpoint, map_location="cpu", weights_only=False)["state_dict"].keys()
    assert not any(k.startswith("averaged.") for k in keys)
    assert np.isfinite(fit.history[-1]["val_auc"])


def test_label_smoothing_is_refused_where_there_is_no_softmax(tmp_path):
    from dataclasses import replace

    from meddl.tasks.base import PlanContext

    task = get_task("image")
    data = task.example_data()
    ordinal = replace(data, info=replace(data.info, task="ordinal", labels=("g0", "g1")))
    config = task.make_config("example-images", epochs=1, label_smoothing=0.1)
    with pytest.raises(ConfigError, match="label_smoothing smooths softmax targets.*ordinal"):
        task.plan(config, ordinal, PlanContext(tmp_path, None, False))
