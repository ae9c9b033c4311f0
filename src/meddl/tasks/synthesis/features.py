"""Domain features for FID, precision/recall and memorisation: the penultimate layer of a meddl classifier trained
on the real data.

Inception-v3 was trained on ImageNet photographs; on 28x28 blood smears or chest X-rays its features say little
about what a clinician would notice. A classifier trained on the real images of the same dataset does: its last
hidden layer separates exactly the properties that define the classes. The input of the network's final Linear
layer is captured with a forward hook, so this works for every registered CNN (fast-cnn, seed-cnn, ResNets...).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from meddl.errors import MeddlError

CLASSIFIER_DIR = "classifier"  # inside the evaluation folder: trained once, reused next time


def final_linear(net: nn.Module) -> nn.Linear:
    """The classifier's output layer: the last nn.Linear registered in the network."""
    linears = [module for module in net.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise MeddlError(f"{type(net).__name__} has no Linear output layer to take features from")
    return linears[-1]


@torch.no_grad()
def classifier_features(module, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """(N, D) float64 penultimate-layer features of uint8 images (N, H, W, C) under a meddl `ImageClassifier`."""
    captured: list[torch.Tensor] = []
    hook = final_linear(module.net).register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    try:
        module.eval()
        for start in range(0, len(images), batch_size):
            batch = np.ascontiguousarray(images[start:start + batch_size].transpose(0, 3, 1, 2))
            module(module.normalise(torch.from_numpy(batch)))
    finally:
        hook.remove()
    return torch.cat(captured).flatten(1).double().numpy() if captured else np.zeros((0, 0))


def check_matches(module, labels: list[str], n_channels: int, image_size: int, source: Path) -> None:
    """Refuse a classifier whose labels, channels or image size differ from the generator's data."""
    hp = module.hparams
    found = (list(hp.labels), int(hp.in_channels), int(hp.image_size))
    if found != (list(labels), n_channels, image_size):
        raise MeddlError(f"classifier {source}: trained on labels {found[0]}, {found[1]} channel(s), {found[2]} px; "
                         f"the generator makes {list(labels)}, {n_channels} channel(s), {image_size} px")


def ensure_classifier(dataset: str, output_dir: Path, *, size: int, data_dir=None, epochs: int = 5, seed: int = 0,
                      progress: bool = True) -> Path:
    """The best.ckpt of a classifier trained on the real `dataset` (meddl's fast preset, `epochs` epochs) in
    `output_dir`/classifier; trained only when that folder holds none made with the same epochs, seed and size, so
    re-evaluating costs nothing. It doubles as the TRTR arm of the utility check (same classifier and epochs)."""
    from meddl.api import train

    run_dir = output_dir / CLASSIFIER_DIR
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    if checkpoint.is_file() and (run_dir / "metrics.json").is_file():
        config = json.loads((run_dir / "metrics.json").read_text()).get("config", {})
        if (config.get("epochs"), config.get("seed"), config.get("size")) == (epochs, seed, size):
            return checkpoint
    result = train(dataset, run_dir, data_dir=data_dir, preset="fast", overwrite=True, progress=progress,
                   epochs=epochs, seed=seed, size=size)
    return Path(result.checkpoint)
