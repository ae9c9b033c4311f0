"""Is the synthetic data useful? Train-on-synthetic/test-on-real (TSTR) and augmentation gain.

Every arm trains meddl's default image classifier (the `fast` preset: fast-cnn) for the same number of epochs from
a MedMNIST-layout .npz written here, and is scored on the same REAL test split with bootstrap 95% intervals:

- TRTR: real training set -> real test (the reference). TSTR: synthetic only -> real test. TSTR/TRTR close to 1
  means the generator captured what separates the classes.
- Augmentation: seeded, stratified fractions of the real training set, alone and with the synthetic set added
  (a fixed amount, `n` samples, by default as many as the full real training set), real val/test kept. A gain at
  small fractions is what synthetic data is for; at 100% it may not help.
All arms go through the same .npz loader, so they share the same augmentation policy and preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from meddl.atomic import write_npz_atomic
from meddl.data.types import ImageSplits
from meddl.errors import ConfigError


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded subset holding `fraction` of each class (at least one sample per class)."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"augmentation fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    picks = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        picks.append(rng.choice(members, size=max(1, round(fraction * len(members))), replace=False))
    return np.sort(np.concatenate(picks))


def write_npz(path: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]], label_names: Sequence[str]) -> Path:
    """Write {split: (uint8 images (N, H, W, C), labels (N,))} in MedMNIST layout (labels (N, 1), grayscale as
    (N, H, W)) plus `label_names`, atomically."""
    arrays: dict[str, np.ndarray] = {"label_names": np.asarray(list(label_names), dtype=str)}
    for split, (images, labels) in splits.items():
        arrays[f"{split}_images"] = images[..., 0] if images.shape[-1] == 1 else images
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64).reshape(-1, 1)
    return write_npz_atomic(path, arrays)


def write_real_npz(real: ImageSplits, path: Path, fraction: float = 1.0, seed: int = 0,
                   extra: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """The real dataset as an .npz: `fraction` of its training set (stratified), optionally with `extra`
    (synthetic images, labels) appended to the training split; val and test unchanged."""
    train_images, train_labels = real.images["train"], real.labels["train"]
    if fraction < 1:
        keep = stratified_subset(train_labels, fraction, seed)
        train_images, train_labels = train_images[keep], train_labels[keep]
    if extra is not None:
        train_images = np.concatenate([train_images, extra[0]])
        train_labels = np.concatenate([train_labels, extra[1]])
    splits = {"train": (train_images, train_labels)}
    for split in ("val", "test"):
        if split in real.images:
            splits[split] = (real.images[split], real.labels[split])
    return write_npz(path, splits, real.info.labels)


def classifier_run(npz: Path, output_dir: Path, *, epochs: int, seed: int, progress: bool) -> dict:
    """Train meddl's default classifier on `npz` (tested on its test split); the figures the tables need."""
    from meddl.api import train

    result = train(str(npz), output_dir, preset="fast", overwrite=True, progress=progress, epochs=epochs, seed=seed)
    return run_summary(result.metrics, output_dir)


def run_summary(metrics: dict, run_dir: Path) -> dict:
    """Test AUC/ACC with 95% CIs, training size and time of one classifier run, from its metrics.json content."""
    test = metrics["test"]
    return {
        "auc": test["auc"], "auc_ci95": test["ci"].get("auc"),
        "acc": test["acc"], "acc_ci95": test["ci"].get("acc"),
        "n_train": metrics["split_sizes"]["train"], "epochs": metrics["config"]["epochs"],
        "fit_seconds": metrics.get("fit_seconds"), "run_dir": str(run_dir),
    }


def augmentation_gain(real: ImageSplits, synthetic: tuple[np.ndarray, np.ndarray], output_dir: Path, *,
                      fractions: Sequence[float], epochs: int, seed: int, progress: bool,
                      full_real: dict | None = None) -> list[dict]:
    """Real-only vs real + synthetic at each fraction of the real training set: one row per fraction with both
    arms' test AUC/CI and the gain. `full_real` (the TRTR summary) stands in for the real-only arm at 1.0."""
    rows = []
    for fraction in fractions:
        tag = f"{round(fraction * 100):g}"
        if fraction == 1 and full_real is not None:
            alone = full_real
        else:
            npz = write_real_npz(real, output_dir / "data" / f"real_{tag}.npz", fraction, seed)
            alone = classifier_run(npz, output_dir / f"real_{tag}", epochs=epochs, seed=seed, progress=progress)
        npz = write_real_npz(real, output_dir / "data" / f"real_{tag}_synthetic.npz", fraction, seed, synthetic)
        mixed = classifier_run(npz, output_dir / f"real_{tag}_synthetic", epochs=epochs, seed=seed, progress=progress)
        gain = None if alone["auc"] is None or mixed["auc"] is None else mixed["auc"] - alone["auc"]
        rows.append({"fraction": fraction, "n_real": alone["n_train"], "n_synthetic": len(synthetic[1]),
                     "real_only": alone, "real_plus_synthetic": mixed, "auc_gain": gain})
    return rows
