"""Quality metrics of a synthetic image set against the real one, all on feature vectors (or flattened pixels).

- Fréchet distance (FID): the distance between Gaussians fitted to real and synthetic features. With Inception
  pool features it is the standard FID; with a meddl classifier's penultimate features it is a domain FID that
  knows what matters in, say, a blood smear.
- Precision and recall (Kynkäänniemi et al., NeurIPS 2019): each set's manifold is the union of balls reaching each
  sample's k-th nearest neighbour in its own set (k=3). Precision: the fraction of synthetic samples inside the real
  manifold (fidelity); recall: the fraction of real samples inside the synthetic manifold (diversity).
- Memorisation: each synthetic sample's distance to its nearest real TRAINING image. What counts as "near" is set
  by the real data itself: real TEST images are unseen patients, so a synthetic sample closer to a training image
  than 99% of test images are (below the 1st percentile of test->train nearest distances) is flagged as a
  near-copy. A generator that does not copy flags about 1% by construction; a copying one flags far more.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import linalg

from meddl.errors import DataError

K_NEAREST = 3
FLAG_PERCENTILE = 1.0
_CHUNK = 1024  # query rows per distance block


def _check_features(name: str, features: np.ndarray, min_rows: int = 2) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < min_rows:
        raise DataError(f"{name}: expected a 2-D array of at least {min_rows} feature rows, got shape {features.shape}")
    if not np.isfinite(features).all():
        raise DataError(f"{name}: features hold NaN or infinity")
    return features


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    As pytorch-fid: when the product is singular (fewer samples than dimensions) the square root is retried with
    `eps` on both diagonals, and the tiny imaginary parts numerical error leaves are dropped (refused if large).
    """
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise DataError(f"Fréchet distance: covariance square root has imaginary component "
                            f"{np.abs(covmean.imag).max():.3g}; the features are degenerate")
        covmean = covmean.real
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean), 0.0))


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D)."""
    real, fake = _check_features("real features", real), _check_features("synthetic features", fake)
    if real.shape[1] != fake.shape[1]:
        raise DataError(f"features: real have {real.shape[1]} dimensions, synthetic {fake.shape[1]}")
    with warnings.catch_warnings():  # scipy warns on singular products; frechet_distance handles them
        warnings.simplefilter("ignore")
        return frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))


def nearest(queries: np.ndarray, references: np.ndarray, k: int = 1, exclude_self: bool = False
            ) -> tuple[np.ndarray, np.ndarray]:
    """Distances (Q, k) and indices (Q, k) of each query's k nearest references, computed in chunks so memory
    stays at `_CHUNK` x len(references). `exclude_self` (queries is references) skips each row's own match."""
    ref = torch.from_numpy(np.ascontiguousarray(references, dtype=np.float64))
    distances, indices = [], []
    for start in range(0, len(queries), _CHUNK):
        block = torch.from_numpy(np.ascontiguousarray(queries[start:start + _CHUNK], dtype=np.float64))
        d = torch.cdist(block, ref)
        if exclude_self:
            rows = torch.arange(len(block))
            d[rows, rows + start] = float("inf")
        values, index = torch.topk(d, k, dim=1, largest=False)
        distances.append(values.clamp_min(0).numpy())
        indices.append(index.numpy())
    return np.concatenate(distances), np.concatenate(indices)


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float
    k: int
    n_real: int
    n_fake: int


def _coverage(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray) -> float:
    """Fraction of `queries` inside at least one ball (centre manifold[i], radius radii[i])."""
    ref = torch.from_numpy(np.ascontiguousarray(manifold, dtype=np.float64))
    r = torch.from_numpy(radii)
    inside = 0
    for start in range(0, len(queries), _CHUNK):
        block = torch.from_numpy(np.ascontiguousarray(queries[start:start + _CHUNK], dtype=np.float64))
        inside += int((torch.cdist(block, ref) <= r[None, :]).any(dim=1).sum())
    return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K_NEAREST) -> PrecisionRecall:
    """Improved precision and recall with k-NN manifolds (Kynkäänniemi et al. 2019). Use equally many real and
    synthetic samples: a ball's radius shrinks as its set grows."""
    real = _check_features("real features", real, min_rows=k + 1)
    fake = _check_features("synthetic features", fake, min_rows=k + 1)
    real_radii = nearest(real, real, k, exclude_self=True)[0][:, -1]
    fake_radii = nearest(fake, fake, k, exclude_self=True)[0][:, -1]
    return PrecisionRecall(precision=_coverage(real, real_radii, fake), recall=_coverage(fake, fake_radii, real),
                           k=k, n_real=len(real), n_fake=len(fake))


@dataclass(frozen=True)
class Memorisation:
    """Nearest-training-image distances of synthetic samples, judged against real test images' own."""

    threshold: float  # the FLAG_PERCENTILE-th percentile of real test -> train nearest distances
    flagged_fraction: float  # synthetic samples at or below the threshold
    expected_fraction: float  # the same rule applied to the real test images (~FLAG_PERCENTILE / 100)
    n_flagged: int
    exact_copies: int  # synthetic samples at distance 0 (within float error) from a training image
    median_distance: float  # synthetic -> train
    median_test_distance: float  # real test -> train
    worst: list[tuple[int, int, float]]  # (synthetic index, train index, distance), nearest first

    def to_dict(self) -> dict:
        return asdict(self)


def memorisation(train: np.ndarray, test: np.ndarray, fake: np.ndarray, n_worst: int = 8) -> Memorisation:
    """Flag synthetic samples closer to a training image than all but `FLAG_PERCENTILE`% of real test images are.

    All three arrays are features (or flattened pixels) in one space: train (N, D), test (T, D), fake (M, D).
    """
    train = _check_features("training features", train, min_rows=1)
    test = _check_features("test features", test, min_rows=1)
    fake = _check_features("synthetic features", fake, min_rows=1)
    test_distance = nearest(test, train)[0][:, 0]
    fake_distance, fake_index = nearest(fake, train)
    fake_distance, fake_index = fake_distance[:, 0], fake_index[:, 0]
    threshold = float(np.percentile(test_distance, FLAG_PERCENTILE))
    # float64 distances of identical vectors come out at ~1e-7 of the typical distance, not exactly 0
    exact = fake_distance <= 1e-6 * max(float(np.median(test_distance)), 1e-12)
    flagged = (fake_distance <= threshold) | exact
    order = np.argsort(fake_distance, kind="stable")[:n_worst]
    return Memorisation(
        threshold=threshold,
        flagged_fraction=float(flagged.mean()),
        expected_fraction=float((test_distance <= threshold).mean()),
        n_flagged=int(flagged.sum()),
        exact_copies=int(exact.sum()),
        median_distance=float(np.median(fake_distance)),
        median_test_distance=float(np.median(test_distance)),
        worst=[(int(i), int(fake_index[i]), float(fake_distance[i])) for i in order],
    )


def pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) as flat vectors in [0, 1], the pixel space for memorisation."""
    return images.reshape(len(images), -1).astype(np.float64) / 255


def nearest_pairs_figure(fake_images: np.ndarray, train_images: np.ndarray, result: Memorisation,
                         title: str) -> bytes:
    """PNG: the synthetic samples nearest to a training image (top row) above that training image (bottom)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = result.worst  # never empty: memorisation() needs at least one synthetic sample
    fig, axes = plt.subplots(2, len(pairs), figsize=(1.4 * len(pairs), 3.2), squeeze=False)
    for column, (fake_i, train_i, distance) in enumerate(pairs):
        for row, image in enumerate((fake_images[fake_i], train_images[train_i])):
            axis = axes[row, column]
            axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[0, column].set_title(f"d={distance:.3g}", fontsize=7)
    axes[0, 0].set_ylabel("synthetic", fontsize=8)
    axes[1, 0].set_ylabel("nearest train", fontsize=8)
    fig.suptitle(f"{title} (flag threshold {result.threshold:.3g})", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
