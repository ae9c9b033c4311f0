"""Worked example: a tiny CNN trained with plain SGD on a few hundred real BreastMNIST images, using only this
package's NumPy pieces (no autograd, no framework).

    image (1, 28, 28) -> correlate2d 3x3, padding 1 -> ReLU -> max-pool 2x2 -> dense -> softmax cross-entropy

The backward pass is the forward pass read in reverse, one `*_backward` per layer. Run it with

    .venv/bin/python -m meddl.fundamentals.train_numpy_cnn --data-dir /work/shared/data

(or with MEDDL_DATA_DIR set). It prints the training loss per epoch and, on the official test split, the accuracy,
the AUC with a bootstrap 95% interval, and the majority-class accuracy that any number must beat to mean anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from meddl.errors import ConfigError, MeddlError
from meddl.fundamentals.conv import correlate2d, correlate2d_backward
from meddl.fundamentals.dense import DenseCache, dense_backward, dense_forward
from meddl.fundamentals.losses import softmax, softmax_cross_entropy
from meddl.fundamentals.pooling import PoolCache, maxpool2d, maxpool2d_backward

DATASET = "breastmnist"


@dataclass(frozen=True)
class NumpyCNNConfig:
    """How the worked example trains: the defaults finish in well under two minutes on one CPU core."""

    train_size: int = 500
    epochs: int = 30
    batch_size: int = 16
    lr: float = 0.003
    filters: int = 8
    seed: int = 0
    data_dir: Path | None = None


@dataclass
class TinyCNN:
    """The parameters: conv kernel (F, 1, 3, 3) and bias (F,), dense weights (2, F * 14 * 14) and bias (2,)."""

    conv_w: np.ndarray
    conv_b: np.ndarray
    dense_W: np.ndarray
    dense_b: np.ndarray


@dataclass(frozen=True)
class NumpyCNNResult:
    """What one run measured: training loss per epoch and test-split figures beside the majority-class baseline."""

    train_losses: list[float]
    test_accuracy: float
    test_auc: float
    test_auc_ci: tuple[float, float]
    majority_accuracy: float
    n_train: int
    n_test: int
    seconds: float


def init_cnn(filters: int, image_size: int, rng: np.random.Generator) -> TinyCNN:
    """He initialisation (std sqrt(2 / fan_in)) for the kernel keeps the ReLU's output at a steady scale. The logits
    layer starts at zero, so both classes start equally likely (loss log 2) instead of at a random confident guess;
    it still learns from the first step (its gradient is features x error), and the kernel from the second.
    """
    pooled = filters * (image_size // 2) ** 2
    return TinyCNN(
        conv_w=rng.normal(0.0, np.sqrt(2.0 / 9), size=(filters, 1, 3, 3)),
        conv_b=np.zeros(filters),
        dense_W=np.zeros((2, pooled)),
        dense_b=np.zeros(2),
    )


@dataclass(frozen=True)
class _Activations:
    """What the backward pass needs from the forward pass of each layer."""

    x: np.ndarray
    conv: np.ndarray  # pre-ReLU, its sign is the ReLU's derivative
    pool: PoolCache
    pooled_shape: tuple[int, ...]
    dense: DenseCache


def forward(model: TinyCNN, x: np.ndarray) -> tuple[np.ndarray, _Activations]:
    """The logits (N, 2) of images x (N, 1, H, W), and every layer's cache for the backward pass."""
    conv = correlate2d(x, model.conv_w, model.conv_b, stride=1, padding=1)
    pooled, pool_cache = maxpool2d(np.maximum(conv, 0.0), kernel=2)
    logits, dense_cache = dense_forward(pooled.reshape(len(x), -1), model.dense_W, model.dense_b)
    return logits, _Activations(x=x, conv=conv, pool=pool_cache, pooled_shape=pooled.shape, dense=dense_cache)


def loss_and_gradients(model: TinyCNN, x: np.ndarray, y: np.ndarray) -> tuple[float, TinyCNN]:
    """Forward through every layer, then backward through each in reverse; returns the loss and dL/dparameters."""
    logits, cache = forward(model, x)
    loss, d_logits = softmax_cross_entropy(logits, y)
    d_flat, d_W, d_b = dense_backward(d_logits, cache.dense)
    d_relu = maxpool2d_backward(d_flat.reshape(cache.pooled_shape), cache.pool)
    d_conv = d_relu * (cache.conv > 0)
    _, d_conv_w, d_conv_b = correlate2d_backward(d_conv, cache.x, model.conv_w, stride=1, padding=1)
    return loss, TinyCNN(conv_w=d_conv_w, conv_b=d_conv_b, dense_W=d_W, dense_b=d_b)


def predict_proba(model: TinyCNN, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, 2), computed in batches to bound memory."""
    return np.concatenate([softmax(forward(model, x[i : i + batch_size])[0]) for i in range(0, len(x), batch_size)])


def sgd_epoch(
    model: TinyCNN, x: np.ndarray, y: np.ndarray, lr: float, batch_size: int, rng: np.random.Generator
) -> float:
    """One pass over shuffled mini-batches with w <- w - lr * dL/dw; returns the mean mini-batch loss."""
    order = rng.permutation(len(x))
    losses = []
    for start in range(0, len(x), batch_size):
        rows = order[start : start + batch_size]
        loss, grads = loss_and_gradients(model, x[rows], y[rows])
        for field in fields(TinyCNN):
            getattr(model, field.name)[...] -= lr * getattr(grads, field.name)
        losses.append(loss)
    return float(np.mean(losses))


def load_breastmnist(data_dir: Path | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every split as (float64 images (N, 1, 28, 28) in [0, 1], int labels (N,)) through meddl's dataset registry."""
    from meddl.data import load_dataset

    splits = load_dataset(DATASET, size=28, data_dir=data_dir)
    return {
        split: (np.moveaxis(images, -1, 1).astype(np.float64) / 255.0, splits.labels[split].astype(np.int64))
        for split, images in splits.images.items()
    }


def train(config: NumpyCNNConfig, progress: bool = False) -> NumpyCNNResult:
    """Train on `train_size` random training images, evaluate on the whole official test split."""
    from meddl.evaluate.metrics import bootstrap_ci, compute_metrics

    if config.train_size < 2 or config.epochs < 1 or config.batch_size < 1 or config.lr <= 0:
        raise ConfigError(f"expected train_size >= 2, epochs >= 1, batch_size >= 1 and lr > 0, got {config}")
    start = time.perf_counter()
    data = load_breastmnist(config.data_dir)
    rng = np.random.default_rng(config.seed)
    x_all, y_all = data["train"]
    rows = rng.permutation(len(x_all))[: config.train_size]
    x_train, y_train = x_all[rows], y_all[rows]
    mean, std = x_train.mean(), x_train.std()  # standardise with training statistics only
    x_test, y_test = (data["test"][0] - mean) / std, data["test"][1]
    x_train = (x_train - mean) / std

    model = init_cnn(config.filters, x_train.shape[-1], rng)
    losses = []
    for epoch in range(config.epochs):
        losses.append(sgd_epoch(model, x_train, y_train, config.lr, config.batch_size, rng))
        if progress:
            print(f"epoch {epoch + 1}/{config.epochs}  train loss {losses[-1]:.4f}", flush=True)

    probs = predict_proba(model, x_test)
    metrics = compute_metrics("binary", y_test, probs, labels=["malignant", "normal/benign"])
    ci = bootstrap_ci("binary", y_test, probs, seed=config.seed)["auc"]
    majority = float(np.mean(y_test == np.bincount(y_train).argmax()))
    return NumpyCNNResult(
        train_losses=losses,
        test_accuracy=metrics["acc"],
        test_auc=metrics["auc"],
        test_auc_ci=(ci[0], ci[1]),
        majority_accuracy=majority,
        n_train=len(x_train),
        n_test=len(x_test),
        seconds=time.perf_counter() - start,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = NumpyCNNConfig()
    parser.add_argument("--train-size", type=int, default=defaults.train_size)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--filters", type=int, default=defaults.filters)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--data-dir", type=Path, default=None, help="folder with breastmnist.npz (else MEDDL_DATA_DIR)")
    args = parser.parse_args(argv)
    config = NumpyCNNConfig(**vars(args))
    try:
        result = train(config, progress=True)
    except MeddlError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    low, high = result.test_auc_ci
    print(f"BreastMNIST test ({result.n_test} images), trained on {result.n_train}: "
          f"accuracy {result.test_accuracy:.3f} (majority class {result.majority_accuracy:.3f}), "
          f"AUC {result.test_auc:.3f} [95% CI {low:.3f}-{high:.3f}], {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
