"""`meddl selfcheck`: tell a broken installation from a bad model in seconds.

A bundled tiny model (a 2-channel-wide fast-cnn, a few KB) runs on bundled sample images that the project drew
itself (shapes and noise, no patient data) through meddl's own image reading, preprocessing and inference path, and
one training step; every result is compared with the outputs stored when the bundle was made. A mismatch points at
the installation (torch, numpy, Pillow, BLAS) rather than at anyone's model. `build_bundle` is how the bundle was
made: run it again only on purpose, after a change that is meant to alter the reference outputs.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUNDLE = Path(__file__).resolve().parent / "bundle"
MODEL_FILE = "model.pt"
EXPECTED_FILE = "expected.json"
LABELS = ("disc", "stripes", "noise")
MODEL_CONFIG = {"model": "fast-cnn", "width": 2, "in_channels": 1, "num_classes": len(LABELS), "image_size": 28}
PROBABILITY_TOLERANCE = 1e-4  # float32 kernels differ between CPUs/BLAS builds by ~1e-6; a broken one by far more
GRADIENT_TOLERANCE = 1e-3  # relative


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sample_images() -> dict[str, np.ndarray]:
    """Five 28x28 images drawn here: a disc, stripes, seeded noise, a gradient and an RGB disc (which exercises the
    colour-to-grey path)."""
    yy, xx = np.mgrid[0:28, 0:28]
    disc = (((yy - 14) ** 2 + (xx - 13) ** 2) < 64).astype(np.uint8) * 220 + 20
    stripes = ((xx // 4) % 2).astype(np.uint8) * 200 + 30
    noise = np.random.default_rng(7).integers(0, 256, (28, 28)).astype(np.uint8)
    gradient = (yy * 9).clip(0, 255).astype(np.uint8)
    rgb = np.stack([disc, disc // 2, 255 - disc], axis=2).astype(np.uint8)
    return {"disc.png": disc, "stripes.png": stripes, "noise.png": noise, "gradient.png": gradient, "rgb_disc.png": rgb}


def _build_model():
    from meddl.models import create

    config = MODEL_CONFIG
    return create(config["model"], config["in_channels"], config["num_classes"], width=config["width"])


def _inputs(bundle: Path) -> tuple[list[Path], np.ndarray]:
    """The bundle's images read and prepared exactly as `meddl predict` does, as one uint8 batch (N, C, H, W)."""
    from meddl.data.imageio import read_image
    from meddl.inference import prepare_image

    files = sorted((bundle / "inputs").glob("*.png"))
    batch = np.stack([prepare_image(read_image(f), MODEL_CONFIG["in_channels"], MODEL_CONFIG["image_size"])
                      for f in files])
    return files, batch.transpose(0, 3, 1, 2).copy()


def _forward(model, batch: np.ndarray):
    import torch

    from meddl.tasks.image.module import MEAN, STD

    pixels = torch.from_numpy(batch).float() / 255
    return model((pixels - MEAN) / STD)


def _outputs(model, batch: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Probabilities in eval mode; loss and gradient norm of one training-mode step against fixed targets."""
    import torch

    model.eval()
    with torch.no_grad():
        probabilities = torch.softmax(_forward(model, batch), dim=1).numpy()
    model.train()
    model.zero_grad()
    torch.manual_seed(0)  # dropout draws the same mask everywhere
    targets = torch.arange(len(batch)) % MODEL_CONFIG["num_classes"]
    loss = torch.nn.functional.cross_entropy(_forward(model, batch), targets)
    loss.backward()
    gradient_norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())).item()
    model.eval()
    return probabilities, float(loss.item()), float(gradient_norm)


def build_bundle(bundle: Path = BUNDLE, seed: int = 0) -> Path:
    """Write the sample images, a seeded tiny model and the outputs this installation gives for them."""
    import torch
    from PIL import Image

    (bundle / "inputs").mkdir(parents=True, exist_ok=True)
    for name, image in _sample_images().items():
        Image.fromarray(image).save(bundle / "inputs" / name)
    torch.manual_seed(seed)
    model = _build_model()
    torch.save({"config": MODEL_CONFIG, "state_dict": model.state_dict()}, bundle / MODEL_FILE)
    files, batch = _inputs(bundle)
    probabilities, loss, gradient_norm = _outputs(model, batch)
    expected = {
        "files": {f.name: _sha256(f) for f in [*files, bundle / MODEL_FILE]},
        "pixels_sha256": hashlib.sha256(batch.tobytes()).hexdigest(),
        "probabilities": {f.name: p.tolist() for f, p in zip(files, probabilities)},
        "train_step": {"loss": loss, "gradient_norm": gradient_norm},
        "made_with": {"torch": torch.__version__, "numpy": np.__version__},
    }
    (bundle / EXPECTED_FILE).write_text(json.dumps(expected, indent=1) + "\n")
    return bundle


def run_selfcheck(bundle: Path = BUNDLE) -> list[CheckResult]:
    """Every check, in order; each says what it compared. All pass on a sound installation."""
    results: list[CheckResult] = []

    def check(name: str, run) -> object:
        start = time.perf_counter()
        try:
            passed, detail, value = run()
        except Exception as error:  # a broken library shows up here, as a failed check, not a crash
            passed, detail, value = False, f"{type(error).__name__}: {error}", None
        results.append(CheckResult(name, passed, detail, round(time.perf_counter() - start, 3)))
        return value

    expected = json.loads((bundle / EXPECTED_FILE).read_text())

    def files():
        changed = [name for name, digest in expected["files"].items()
                   if not (bundle / ("inputs" if name.endswith(".png") else "") / name).is_file()
                   or _sha256(bundle / ("inputs" if name.endswith(".png") else "") / name) != digest]
        return not changed, (f"changed or missing: {', '.join(changed)}" if changed else
                             f"{len(expected['files'])} files intact"), None

    def pixels():
        _, batch = _inputs(bundle)
        same = hashlib.sha256(batch.tobytes()).hexdigest() == expected["pixels_sha256"]
        return same, "decoded and prepared pixels identical" if same else "image decoding/resizing differs", batch

    def model():
        import torch

        raw = torch.load(bundle / MODEL_FILE, map_location="cpu", weights_only=True)
        net = _build_model()
        net.load_state_dict(raw["state_dict"])
        return True, f"{sum(p.numel() for p in net.parameters())} parameters loaded", net

    check("bundle files", files)
    batch = check("image reading and preprocessing", pixels)
    net = check("model loading", model)
    if batch is None or net is None:
        return results
    computed: dict = {}

    def inference():
        probabilities, loss, norm = _outputs(net, batch)
        computed.update(loss=loss, norm=norm)
        reference = np.array(list(expected["probabilities"].values()))
        difference = float(np.abs(probabilities - reference).max())
        return difference <= PROBABILITY_TOLERANCE, f"max probability difference {difference:.1e}", None

    def training_step():
        reference = expected["train_step"]
        errors = [abs(computed["loss"] - reference["loss"]) / abs(reference["loss"]),
                  abs(computed["norm"] - reference["gradient_norm"]) / abs(reference["gradient_norm"])]
        return max(errors) <= GRADIENT_TOLERANCE, (f"loss and gradient norm within {max(errors):.1e} (relative)"), None

    check("inference", inference)
    if computed:
        check("training step (backward pass)", training_step)
    return results


def format_results(results: list[CheckResult]) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"{'PASS' if r.passed else 'FAIL'}  {r.name.ljust(width)}  {r.detail}  ({r.seconds:.2f} s)"
             for r in results]
    ok = all(r.passed for r in results)
    lines.append("selfcheck passed: this installation computes what it should" if ok else
                 "selfcheck FAILED: this installation does not reproduce the reference outputs; reinstall meddl and "
                 "its dependencies (see the README) before trusting any model")
    return "\n".join(lines)
