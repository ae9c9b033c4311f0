"""Generation from a trained GAN: load its EMA generator, draw labelled images, write PNGs and a MedMNIST-layout npz.

The npz holds the synthetic images as train/val (a seeded 90/10 split) and the REAL test split of the source
dataset as test, so `meddl train runs/gan/samples/synthetic.npz` trains on synthetic images and tests on real ones
(TSTR) with no further step. Without a label, a conditional generator draws classes in the proportions of its
training set: the synthetic set then has the real class prior, and a classifier trained on it is comparable to one
trained on real data.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from meddl.atomic import write_npz_atomic
from meddl.errors import ConfigError, DataError, MeddlError


@dataclass(frozen=True)
class Generator:
    """A trained generator ready to sample: `net(z, labels)` returns images in [-1, 1] (N, C, H, W)."""

    net: torch.nn.Module
    labels: list[str]
    n_channels: int
    image_size: int
    latent_dim: int
    conditional: bool
    dataset: str
    hparams: dict = field(default_factory=dict)


def load_generator(path: str | Path) -> Generator:
    """The EMA generator stored in a `meddl gan train` checkpoint, in evaluation mode on the CPU."""
    from meddl.tasks.base import load_model

    return load_model(path, ("synthesis",), "this command")[1]


def generator_from_checkpoint(raw: dict) -> Generator:
    """The EMA generator from a checkpoint's contents (see `SynthesisTask.load`)."""
    from meddl.tasks.synthesis.module import GanModule

    hparams = dict(raw.get("hyper_parameters", {}))
    module = GanModule(**hparams)
    module.load_state_dict(raw["state_dict"])
    net = module.ema.module.eval()
    return Generator(net=net, labels=list(hparams["labels"]), n_channels=int(hparams["n_channels"]),
                     image_size=int(hparams["image_size"]), latent_dim=int(hparams["latent_dim"]),
                     conditional=bool(hparams["conditional"]), dataset=str(hparams["dataset"]), hparams=hparams)


def _label_index(bundle: Generator, label: int | str) -> int:
    valid = ", ".join(f"{i} ({name})" for i, name in enumerate(bundle.labels))
    if not bundle.conditional:
        raise ConfigError(f"label {label!r}: this generator is unconditional; sample without --label")
    if isinstance(label, str) and label in bundle.labels:
        return bundle.labels.index(label)
    if isinstance(label, (int, np.integer)) or (isinstance(label, str) and label.strip().isdigit()):
        index = int(label)
        if 0 <= index < len(bundle.labels):
            return index
    raise ConfigError(f"unknown label {label!r}; expected one of {valid}")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Generator output in [-1, 1] (N, C, H, W) -> uint8 (N, H, W, C)."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def sample_images(bundle: Generator, n: int, label: int | str | None = None, seed: int = 0,
                  batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """`n` images uint8 (N, H, W, C) and their class indices int64 (N,) (-1 for an unconditional generator)."""
    if not isinstance(n, (int, np.integer)) or n <= 0:
        raise ConfigError(f"n must be a positive number of images, got {n!r}")
    rng = np.random.default_rng(seed)
    if label is not None:
        labels = np.full(n, _label_index(bundle, label), dtype=np.int64)
    elif bundle.conditional:
        frequencies = bundle.hparams.get("class_frequencies")
        p = np.asarray(frequencies, dtype=np.float64) if frequencies else np.ones(len(bundle.labels))
        labels = rng.choice(len(bundle.labels), size=n, p=p / p.sum()).astype(np.int64)
    else:
        labels = np.full(n, -1, dtype=np.int64)
    generator = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            y = torch.from_numpy(labels[start:start + batch_size])
            z = torch.randn(len(y), bundle.latent_dim, generator=generator)
            out.append(to_uint8(bundle.net(z, y if bundle.conditional else None)))
    return np.concatenate(out), labels


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "class"


def _real_test(bundle: Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """The source dataset's real test split, or None where it cannot be loaded here."""
    from meddl.data import load_dataset

    try:
        data = load_dataset(bundle.dataset, size=bundle.image_size, data_dir=bundle.hparams.get("data_dir"))
    except MeddlError:
        return None
    return data.images["test"], np.asarray(data.labels["test"]).reshape(-1)


def write_samples(bundle: Generator, images: np.ndarray, labels: np.ndarray, output_dir: str | Path,
                  real_test: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0) -> Path:
    """PNGs under output_dir/png/<class>/NNNNN.png and output_dir/synthetic.npz (MedMNIST layout: synthetic
    train/val, real test, `label_names`); returns the npz path. `real_test` defaults to the source's test split."""
    from PIL import Image

    output = Path(output_dir)
    names = [_slug(name) for name in bundle.labels] if bundle.conditional else []
    for index, (image, label) in enumerate(zip(images, labels)):
        folder = output / "png" / (names[label] if label >= 0 else "unlabelled")
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
        (folder / f"{index:05d}.png").write_bytes(buffer.getvalue())
    order = np.random.default_rng(seed).permutation(len(images))
    n_val = max(1, len(images) // 10) if len(images) > 1 else 0
    val, train = order[:n_val], order[n_val:]
    arrays = {"train_images": images[train], "train_labels": labels[train].reshape(-1, 1),
              "val_images": images[val], "val_labels": labels[val].reshape(-1, 1),
              "label_names": np.array(bundle.labels if bundle.conditional else [], dtype=str)}
    test = real_test if real_test is not None else _real_test(bundle)
    if test is not None:
        if test[0].shape[1:] != images.shape[1:]:
            raise DataError(f"real test images have shape {test[0].shape[1:]}; the samples {images.shape[1:]}")
        arrays.update(test_images=test[0], test_labels=np.asarray(test[1]).reshape(-1, 1))
    path = output / "synthetic.npz"
    write_npz_atomic(path, arrays, compressed=True)
    return path


def grid_png(images: np.ndarray, n_rows: int, scale: int = 2, pad: int = 2) -> bytes:
    """uint8 images (N, H, W, C) laid out in `n_rows` rows as one PNG, upscaled `scale` times (nearest)."""
    from PIL import Image

    n, h, w, c = images.shape
    columns = -(-n // n_rows)
    canvas = np.full((n_rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, dtype=np.uint8)
    for index, image in enumerate(images):
        row, col = divmod(index, columns)
        canvas[pad + row * (h + pad):pad + row * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = image
    picture = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
