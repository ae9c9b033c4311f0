"""Is the synthetic data useful? Train-on-synthetic/test-on-real (TSTR) and augmentation gain.

Every arm trains meddl's default image classifier (the `fast` preset: fast-cnn) for the same number of epochs from
a MedMNIST-layout .npz written here, and is scored on the same REAL test split with bootstrap 95% intervals:

- TRTR: real training set -> real test (the reference). TSTR: synthetic only -> real test. TSTR/TRTR close to 1
  means the generator captured what separates the classes.
- Augmentation: seeded, stratified fractions of the real training set, alone and with the synthetic set added
  (a fixed amount, `n` samples, by default as many as the full real training set), real val/test kept. A gain at
  small fractions is what synthetic data is for; at 100% it may not help.
  Every arm gets the same number of optimisation steps: each arm's training set is repeated (whole copies, then a
  seeded remainder) to the size of the largest arm, and all train the same epochs at the same batch size. With
  equal epochs instead, 10% of the real data alone trains 10x fewer steps than 10% + synthetic, and the "gain" of
  adding synthetic images is mostly the gain of training longer. The steps each arm took are counted during
  training and recorded; should they differ, the comparison carries a warning.
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


def repeat_to(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exactly `n` samples: the set repeated whole as often as it fits, then a seeded random remainder of it, so
    that E epochs over it take as many steps as E epochs over any other set of `n`."""
    if n < len(labels):
        raise ConfigError(f"cannot repeat {len(labels)} samples to fewer ({n})")
    copies, remainder = divmod(n, len(labels))
    index = np.concatenate([np.tile(np.arange(len(labels)), copies),
                            np.sort(np.random.default_rng(seed).permutation(len(labels))[:remainder])])
    return images[index], labels[index]


def write_real_npz(real: ImageSplits, path: Path, fraction: float = 1.0, seed: int = 0,
                   extra: tuple[np.ndarray, np.ndarray] | None = None, n_train: int | None = None) -> Path:
    """The real dataset as an .npz: `fraction` of its training set (stratified), optionally with `extra`
    (synthetic images, labels) appended to the training split, and repeated to `n_train` samples when given
    (`repeat_to`); val and test unchanged."""
    train_images, train_labels = real.images["train"], real.labels["train"]
    if fraction < 1:
        keep = stratified_subset(train_labels, fraction, seed)
        train_images, train_labels = train_images[keep], train_labels[keep]
    if extra is not None:
        train_images = np.concatenate([train_images, extra[0]])
        train_labels = np.concatenate([train_labels, extra[1]])
    if n_train is not None:
        train_images, train_labels = repeat_to(train_images, train_labels, n_train, seed)
    splits = {"train": (train_images, train_labels)}
    for split in ("val", "test"):
        if split in real.images:
            splits[split] = (real.images[split], real.labels[split])
    return write_npz(path, splits, real.info.labels)


def _step_counter():
    """A callback holding the optimiser steps a run took (Lightning's global step when training ends)."""
    import lightning as L

    class StepCounter(L.Callback):
        steps: int | None = None

        def on_train_end(self, trainer, module) -> None:
            self.steps = int(trainer.global_step)

    return StepCounter()


def classifier_run(npz: Path, output_dir: Path, *, epochs: int, seed: int, progress: bool) -> dict:
    """Train meddl's default classifier on `npz` (tested on its test split); the figures the tables need, with the
    optimiser steps counted while it trained."""
    from meddl.api import train

    counter = _step_counter()
    result = train(str(npz), output_dir, preset="fast", overwrite=True, progress=progress, epochs=epochs, seed=seed,
                   callbacks=[counter])
    return run_summary(result.metrics, output_dir, steps=counter.steps)


def run_summary(metrics: dict, run_dir: Path, steps: int | None = None) -> dict:
    """Test AUC/ACC with 95% CIs, training size, steps and time of one classifier run, from its metrics.json
    content; `steps` as counted in training, else epochs run x batches per epoch (one device, no batch dropped)."""
    test, config = metrics["test"], metrics["config"]
    n_train = metrics["split_sizes"]["train"]
    if steps is None:
        steps = metrics.get("epochs_run", config["epochs"]) * -(-n_train // config["batch_size"])
    return {
        "auc": test["auc"], "auc_ci95": test["ci"].get("auc"),
        "acc": test["acc"], "acc_ci95": test["ci"].get("acc"),
        "n_train": n_train, "epochs": config["epochs"], "batch_size": config["batch_size"], "steps": steps,
        "fit_seconds": metrics.get("fit_seconds"), "run_dir": str(run_dir),
    }


def augmentation_gain(real: ImageSplits, synthetic: tuple[np.ndarray, np.ndarray], output_dir: Path, *,
                      fractions: Sequence[float], epochs: int, seed: int, progress: bool) -> dict:
    """Real-only vs real + synthetic at each fraction of the real training set, every arm trained for the same
    number of steps (see the module docstring). Returns `augmentation`: one row per fraction with both arms' test
    AUC/CI, distinct training images, steps and the gain; and `augmentation_steps`: the shared budget, whether the
    counted steps were equal, and a warning where they were not."""
    n_synthetic = len(synthetic[1])
    sizes = {fraction: len(stratified_subset(real.labels["train"], fraction, seed)) for fraction in fractions}
    per_epoch = max(sizes.values()) + n_synthetic  # the largest arm, seen once an epoch; every arm repeats to it
    rows = []
    for fraction in fractions:
        tag = f"{round(fraction * 100):g}"
        arms = {}
        for arm, extra in (("real_only", None), ("real_plus_synthetic", synthetic)):
            name = f"real_{tag}" + ("_synthetic" if extra is not None else "")
            npz = write_real_npz(real, output_dir / "data" / f"{name}.npz", fraction, seed, extra, n_train=per_epoch)
            distinct = sizes[fraction] + (n_synthetic if extra is not None else 0)
            arms[arm] = {**classifier_run(npz, output_dir / name, epochs=epochs, seed=seed, progress=progress),
                         "n_distinct": distinct, "passes": round(epochs * per_epoch / distinct, 2)}
        alone, mixed = arms["real_only"], arms["real_plus_synthetic"]
        gain = None if alone["auc"] is None or mixed["auc"] is None else mixed["auc"] - alone["auc"]
        rows.append({"fraction": fraction, "n_real": sizes[fraction], "n_synthetic": n_synthetic, **arms,
                     "auc_gain": gain, "steps": alone["steps"] if alone["steps"] == mixed["steps"] else None})
    return {"augmentation": rows, "augmentation_steps": step_check(rows, epochs, per_epoch)}


def step_check(rows: list[dict], epochs: int, per_epoch: int) -> dict:
    """The comparison's step budget and whether every arm took it; a warning naming the arms where they differ."""
    counted = {f"{arm.replace('_', ' ')} at {row['fraction']:.0%}": row[arm]["steps"]
               for row in rows for arm in ("real_only", "real_plus_synthetic")}
    equal = len(set(counted.values())) == 1
    batch_size = rows[0]["real_only"]["batch_size"] if rows else None
    warning = None if equal else (
        "the classifiers took different numbers of steps (" + ", ".join(f"{k}: {v}" for k, v in counted.items())
        + "): a gain here mixes the effect of the synthetic images with that of training longer")
    return {"policy": f"equal steps: every arm's training set repeated to {per_epoch} samples an epoch",
            "epochs": epochs, "samples_per_epoch": per_epoch, "batch_size": batch_size,
            "steps": next(iter(counted.values())) if equal and counted else None, "equal": equal,
            "counted": counted, "warning": warning}
