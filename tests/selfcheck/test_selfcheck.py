"""`meddl selfcheck` passes on this installation and fails when the bundled model or images are altered."""

import shutil

import torch

from meddl.cli import main
from meddl.selfcheck import BUNDLE, MODEL_FILE, run_selfcheck


def test_selfcheck_passes_on_a_clean_install(capsys):
    assert main(["selfcheck"]) == 0
    out = capsys.readouterr().out
    assert "selfcheck passed" in out and "FAIL" not in out


def test_selfcheck_fails_when_a_weight_is_altered(tmp_path):
    bundle = shutil.copytree(BUNDLE, tmp_path / "bundle")
    raw = torch.load(bundle / MODEL_FILE, weights_only=True)
    first = next(key for key, value in raw["state_dict"].items() if value.is_floating_point() and "weight" in key)
    raw["state_dict"][first].view(-1)[0] += 0.5
    torch.save(raw, bundle / MODEL_FILE)
    results = {r.name: r for r in run_selfcheck(bundle)}
    assert not results["bundle files"].passed and "model.pt" in results["bundle files"].detail
    assert not results["inference"].passed  # the altered weight changes the outputs, not only the file hash


def test_selfcheck_fails_when_an_image_decodes_differently(tmp_path):
    from PIL import Image

    bundle = shutil.copytree(BUNDLE, tmp_path / "bundle")
    image = bundle / "inputs" / "disc.png"
    Image.open(image).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(image)
    results = {r.name: r for r in run_selfcheck(bundle)}
    assert not results["image reading and preprocessing"].passed
