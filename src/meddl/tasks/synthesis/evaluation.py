"""`meddl gan evaluate`: how good, how diverse, how private and how useful a trained generator's images are.

One call samples the generator, measures the samples against the real dataset (domain FID, precision/recall,
memorisation; Inception FID when its weights file is given), checks their use for classification (TSTR vs TRTR,
augmentation gain with every classifier trained for the same number of steps), writes everything to metrics.json
and rewrites the GAN run's report to lead with the quality figures.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from meddl.atomic import write_json_atomic
from meddl.errors import ConfigError

DEFAULT_CLASSIFIER_EPOCHS = 5  # fast-cnn: ~5 s an epoch on BloodMNIST (12k images) on 2 idle CPU cores; AUC ~0.99 by 2
MAX_MANIFOLD_SAMPLES = 5000  # precision/recall and Inception FID: quadratic (or slow) in the sample count
METRICS_FILE = "metrics.json"


def default_output_dir(checkpoint: Path) -> Path:
    """runs/gan/checkpoints/last.ckpt -> runs/gan/evaluation: beside the training run it judges."""
    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    return run_dir / "evaluation"


def _subsample(n_total: int, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n_total, size=min(n, n_total), replace=False))


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[gan evaluate] {message}", file=sys.stderr, flush=True)


def _check_options(n: int | None, classifier_epochs: int, fractions: Sequence[float], augmentation: bool) -> None:
    if n is not None and (not isinstance(n, (int, np.integer)) or n <= 0):
        raise ConfigError(f"n must be a positive number of images, got {n!r}")
    if classifier_epochs < 1:
        raise ConfigError(f"classifier_epochs must be at least 1, got {classifier_epochs}")
    bad = [f for f in fractions if not 0 < f <= 1]
    if augmentation and (bad or not fractions):
        raise ConfigError(f"fractions of the real training set must be in (0, 1], got {list(fractions)}")


def evaluate_gan(
    checkpoint: str | Path,
    output_dir: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    n: int | None = None,
    classifier_checkpoint: str | Path | None = None,
    inception_weights: str | Path | None = None,
    tstr: bool = True,
    augmentation: bool = True,
    fractions: Sequence[float] = (0.1, 0.25, 1.0),
    classifier_epochs: int = DEFAULT_CLASSIFIER_EPOCHS,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Evaluate the generator in `checkpoint` against its real dataset; returns what metrics.json holds.

    `n` synthetic images are drawn (default: as many as the real training set). Features come from
    `classifier_checkpoint`, else from a fast-cnn trained on the real data for `classifier_epochs` epochs in
    `output_dir`/classifier (reused next time; it is also the TRTR arm). Inception FID needs `inception_weights`
    (or $MEDDL_INCEPTION_WEIGHTS). Example: ``evaluate_gan("runs/gan/checkpoints/last.ckpt", n=2000)``.
    """
    from meddl.data import load_dataset
    from meddl.tasks.synthesis.sampling import load_generator

    _check_options(n, classifier_epochs, fractions, augmentation)  # before any work
    checkpoint = Path(checkpoint)
    bundle = load_generator(checkpoint)
    output = Path(output_dir) if output_dir is not None else default_output_dir(checkpoint)
    data_dir = data_dir if data_dir is not None else bundle.hparams.get("data_dir")
    real = load_dataset(bundle.dataset, size=bundle.image_size, data_dir=data_dir, seed=seed)
    return evaluate_generator(bundle, real, checkpoint, output, data_dir=data_dir, n=n,
                              classifier_checkpoint=classifier_checkpoint, inception_weights=inception_weights,
                              tstr=tstr, augmentation=augmentation, fractions=fractions,
                              classifier_epochs=classifier_epochs, seed=seed, progress=progress)


def evaluate_generator(
    bundle,
    real,
    checkpoint: Path,
    output: Path,
    *,
    data_dir: str | Path | None = None,
    n: int | None = None,
    classifier_checkpoint: str | Path | None = None,
    inception_weights: str | Path | None = None,
    tstr: bool = True,
    augmentation: bool = True,
    fractions: Sequence[float] = (0.1, 0.25, 1.0),
    classifier_epochs: int = DEFAULT_CLASSIFIER_EPOCHS,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Evaluate a loaded generator (`bundle`) against the real images in `real` (see `evaluate_gan`), writing
    into `output`; `checkpoint` is where the generator came from (its run's report is refreshed)."""
    from meddl.tasks.synthesis.inception import load_inception, resolve_weights
    from meddl.tasks.synthesis.sampling import sample_images, write_samples
    from meddl.tasks.synthesis.utility import augmentation_gain, classifier_run, write_real_npz

    start = time.perf_counter()
    _check_options(n, classifier_epochs, fractions, augmentation)
    weights = resolve_weights(inception_weights)
    inception_model = load_inception(weights) if weights else None  # a bad file fails now, not after an hour
    n = int(n or len(real.images["train"]))
    timings: dict[str, float] = {}

    _say(progress, f"sampling {n} images from {checkpoint}")
    images, labels = sample_images(bundle, n, seed=seed)
    samples_npz = write_samples(bundle, images, labels, output / "samples",
                                real_test=(real.images["test"], real.labels["test"]), seed=seed)
    timings["sampling_s"] = time.perf_counter() - start

    mark = time.perf_counter()
    real_npz = write_real_npz(real, output / "data" / "real_100.npz")
    classifier, classifier_path, trtr = _classifier(classifier_checkpoint, real_npz, output, bundle,
                                                    classifier_epochs, seed, progress, need_trtr=tstr)
    timings["classifier_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    _say(progress, "domain FID, precision/recall, memorisation")
    quality = _quality(classifier, real, images, output, seed)
    quality["domain"]["classifier"] = str(classifier_path)
    timings["quality_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    if inception_model is not None:
        inception = _inception_fid(inception_model, weights, real.images["train"], images, seed, progress)
    else:
        inception = {"fid": None,
                     "skipped": "no Inception weights file (--inception-weights FILE or $MEDDL_INCEPTION_WEIGHTS)"}
    timings["inception_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    utility: dict = {"epochs": classifier_epochs, "classifier": "fast-cnn (preset fast)"}
    if (tstr or augmentation) and not bundle.conditional:
        utility["skipped"] = "unconditional generator: its samples have no labels to train a classifier on"
    else:
        if tstr:
            _say(progress, f"TSTR: fast-cnn on {n} synthetic images, {classifier_epochs} epochs")
            synthetic = classifier_run(samples_npz, output / "tstr", epochs=classifier_epochs, seed=seed,
                                       progress=progress)
            ratio = None if not (trtr["auc"] and synthetic["auc"] is not None) else synthetic["auc"] / trtr["auc"]
            utility.update(trtr=trtr, tstr=synthetic, tstr_over_trtr=ratio)
        if augmentation:
            _say(progress, f"augmentation gain at fractions {list(fractions)}, every classifier the same steps")
            utility.update(augmentation_gain(
                real, (images, labels), output / "augmentation", fractions=fractions, epochs=classifier_epochs,
                seed=seed, progress=progress))
            if utility["augmentation_steps"]["warning"]:
                _say(progress, f"warning: {utility['augmentation_steps']['warning']}")
    timings["utility_s"] = time.perf_counter() - mark

    metrics = {
        "checkpoint": str(checkpoint),
        "dataset": bundle.dataset,
        "labels": bundle.labels,
        "image_size": bundle.image_size,
        "n_channels": bundle.n_channels,
        "n_synthetic": n,
        "seed": seed,
        "samples": str(samples_npz),
        **quality,
        "inception": inception,
        "utility": utility,
        "timings_s": {key: round(value, 1) for key, value in timings.items()},
        "wall_time_s": round(time.perf_counter() - start, 1),
    }
    metrics["report"] = _refresh_report(checkpoint, metrics, data_dir)
    write_json_atomic(output / METRICS_FILE, metrics)
    return metrics


def _classifier(given, real_npz: Path, output: Path, bundle, epochs: int, seed: int, progress: bool,
                need_trtr: bool):
    """(feature classifier module, its path, TRTR summary or None). The classifier trained here on the real data
    serves both; a user-given one serves features only, and TRTR is trained when needed."""
    from meddl.tasks.synthesis.features import CLASSIFIER_DIR, check_matches, ensure_classifier
    from meddl.tasks.synthesis.utility import run_summary
    from meddl.tasks.image import load_classifier

    trtr = None
    if given is None or need_trtr:
        _say(progress, f"classifier on the real data (fast-cnn, {epochs} epochs; reused when present)")
        trained = ensure_classifier(str(real_npz), output, size=bundle.image_size, epochs=epochs, seed=seed,
                                    progress=progress)
        run_dir = output / CLASSIFIER_DIR
        trtr = run_summary(json.loads((run_dir / "metrics.json").read_text()), run_dir)
    path = Path(given) if given is not None else trained
    module = load_classifier(path)
    check_matches(module, bundle.labels, bundle.n_channels, bundle.image_size, path)
    return module, path, trtr


def _quality(classifier, real, images: np.ndarray, output: Path, seed: int) -> dict:
    """Domain FID, precision/recall in the classifier's feature space; memorisation there and in pixel space."""
    from meddl.tasks.synthesis.features import classifier_features
    from meddl.tasks.synthesis.metrics import fid, memorisation, nearest_pairs_figure, pixels, precision_recall

    train, test = real.images["train"], real.images["test"]
    f_train, f_test, f_fake = (classifier_features(classifier, x) for x in (train, test, images))
    m = min(MAX_MANIFOLD_SAMPLES, len(f_train), len(f_fake))
    pr = precision_recall(f_train[_subsample(len(f_train), m, seed)], f_fake[_subsample(len(f_fake), m, seed + 1)])
    memory = {"features": memorisation(f_train, f_test, f_fake),
              "pixels": memorisation(pixels(train), pixels(test), pixels(images))}
    figures = {}
    for space, result in memory.items():
        path = output / "figures" / f"nearest_training_{space}.png"
        _write_bytes(path, nearest_pairs_figure(images, train, result, f"nearest training image ({space})"))
        figures[space] = str(path)
    return {
        "domain": {
            "feature_dim": int(f_fake.shape[1]),
            "fid": fid(f_train, f_fake),
            # the same distance between two real samples: what a perfect generator would score
            "fid_real_test_vs_train": fid(f_train, f_test),
            "precision": pr.precision,
            "recall": pr.recall,
            "k": pr.k,
            "n_manifold": m,
        },
        "memorisation": {**{space: result.to_dict() for space, result in memory.items()}, "figures": figures},
    }


def _write_bytes(path: Path, data: bytes) -> None:
    """Binary twin of write_text_atomic: temp file beside `path`, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _inception_fid(model, weights: Path, train: np.ndarray, images: np.ndarray, seed: int, progress: bool) -> dict:
    from meddl.tasks.synthesis.inception import inception_features
    from meddl.tasks.synthesis.metrics import fid

    m = min(MAX_MANIFOLD_SAMPLES, len(train), len(images))
    _say(progress, f"Inception-v3 features of {m} real and {m} synthetic images (299 px; slow on a CPU)")
    real_features = inception_features(model, train[_subsample(len(train), m, seed)])
    fake_features = inception_features(model, images[_subsample(len(images), m, seed + 1)])
    return {"fid": fid(real_features, fake_features), "weights": str(weights), "n": m}


def _auc(summary: dict) -> str:
    ci = summary.get("auc_ci95") or [None, None]
    value = "n/a" if summary["auc"] is None else f"{summary['auc']:.3f}"
    return value if ci[0] is None else f"{value} [{ci[0]:.3f}, {ci[1]:.3f}]"


def format_summary(metrics: dict) -> str:
    """The headline figures as a few lines of plain text, for the CLI and the benchmark."""
    domain, memory, utility = metrics["domain"], metrics["memorisation"], metrics["utility"]
    inception = metrics["inception"]
    lines = [
        f"domain FID {domain['fid']:.4g} (real test vs real train: {domain['fid_real_test_vs_train']:.4g}; "
        f"{domain['feature_dim']}-d features of {domain['classifier']})",
        f"precision {domain['precision']:.3f}, recall {domain['recall']:.3f} (k={domain['k']}, "
        f"{domain['n_manifold']} real vs {domain['n_manifold']} synthetic)",
        "Inception FID " + (f"{inception['fid']:.4g}" if inception.get("fid") is not None
                            else f"skipped: {inception['skipped']}"),
        f"near-copies of training images: {memory['pixels']['flagged_fraction']:.2%} (pixels), "
        f"{memory['features']['flagged_fraction']:.2%} (features); real test images: "
        f"{memory['pixels']['expected_fraction']:.2%}; exact copies: {memory['pixels']['exact_copies']}",
    ]
    if "skipped" in utility:
        lines.append(f"utility skipped: {utility['skipped']}")
    if "tstr" in utility:
        ratio = utility["tstr_over_trtr"]
        lines.append(f"TSTR AUC {_auc(utility['tstr'])} vs TRTR {_auc(utility['trtr'])}"
                     + ("" if ratio is None else f": TSTR/TRTR {ratio:.3f}") + f" ({utility['epochs']} epochs)")
    if "augmentation_steps" in utility:
        budget = utility["augmentation_steps"]
        lines.append(f"augmentation: every classifier {budget['steps']} steps ({budget['epochs']} epochs of "
                     f"{budget['samples_per_epoch']} samples)" if budget["equal"] else f"warning: {budget['warning']}")
    for row in utility.get("augmentation", []):
        gain = "n/a" if row["auc_gain"] is None else f"{row['auc_gain']:+.3f}"
        lines.append(f"augmentation at {row['fraction']:.0%} of real ({row['n_real']}): real only "
                     f"{_auc(row['real_only'])}, + {row['n_synthetic']} synthetic {_auc(row['real_plus_synthetic'])}"
                     f", gain {gain}")
    return "\n".join(lines)


def _refresh_report(checkpoint: Path, metrics: dict, data_dir) -> str | None:
    """Re-render the GAN run's report.html with the metrics table; None when the checkpoint sits outside a run
    folder (a copied file), which has no report to refresh."""
    from meddl.tasks.synthesis.report import write_gan_report
    from meddl.tasks.synthesis.training import RUN_FILE

    run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    if not (run_dir / RUN_FILE).is_file():
        return None
    return str(write_gan_report(run_dir, metrics, checkpoint=checkpoint, data_dir=data_dir))
