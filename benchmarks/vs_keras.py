"""The seed's own Keras CNN against meddl's `seed-cnn` and meddl's fast default, on PneumoniaMNIST, in one run.

1. Builds (once) a separate virtual environment with TensorFlow for the CPU (`~/.cache/meddl/keras-venv`, or
   `MEDDL_KERAS_VENV`; TensorFlow never enters meddl's own environment) and runs `keras_seed_cnn.py` in it: the
   seed's layers, compile and fit settings, adapted only in input shape and class count.
2. Trains meddl's `seed-cnn` (the same layers) with the seed's recipe (Adam 1e-3, batch 32, no augmentation,
   constant rate, float32): the same work as Keras, so the difference is the framework's.
3. Trains meddl's `seed-cnn` with meddl's default training (fast preset: AdamW, cosine schedule, augmentation,
   batch 128, bf16 + channels-last where the CPU has native bf16) for the same number of epochs.
4. Trains meddl's fast default (`fast-cnn`, fast preset, its default 40 epochs).

Every run gets the same CPU threads and the same data file. After each epoch a probe computes test AUC and ACC
(argmax) of the current weights; its time is measured and subtracted, so "training seconds" include each framework's
own per-epoch validation but not the probe. Reported: seconds per epoch, seconds (and epochs) to the first test AUC
>= 0.944 (MedMNIST v2's ResNet-18(28) on PneumoniaMNIST), test AUC/ACC after the last epoch, and ratios against the
Keras run. Writes results/vs_keras.json and results/vs_keras.md.

    MEDDL_DATA_DIR=../shared/data .venv/bin/python benchmarks/vs_keras.py
    .venv/bin/python benchmarks/vs_keras.py --seed-epochs 3 --fast-epochs 3   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BENCHMARKS, arguments, describe, environment, report_results

DATASET = "pneumoniamnist"
TARGET_AUC = 0.944  # MedMNIST v2, ResNet-18 (28), PneumoniaMNIST test AUC
# outside the repository, so no tool that walks the checkout (tests, linters) wanders into TensorFlow
KERAS_VENV = Path(os.environ.get("MEDDL_KERAS_VENV", Path.home() / ".cache" / "meddl" / "keras-venv"))
KERAS_REQUIREMENTS = ["tensorflow-cpu==2.21.0", "scikit-learn", "numpy"]


def keras_python() -> Path:
    """The TensorFlow environment's interpreter, building the environment the first time (about 600 MB)."""
    python = KERAS_VENV / "bin" / "python"
    if python.is_file() and subprocess.run([str(python), "-c", "import tensorflow, sklearn"],
                                           capture_output=True).returncode == 0:
        return python
    print(f"building {KERAS_VENV} with {', '.join(KERAS_REQUIREMENTS)} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(KERAS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *KERAS_REQUIREMENTS], check=True)
    return python


def run_keras(npz: Path, epochs: int, threads: int, scratch: Path) -> dict:
    output = scratch / "keras.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    start = time.perf_counter()
    subprocess.run([str(keras_python()), str(BENCHMARKS / "keras_seed_cnn.py"), str(npz), str(output),
                    "--epochs", str(epochs), "--threads", str(threads)], check=True, env=env)
    result = json.loads(output.read_text())
    result["wall_seconds"] = time.perf_counter() - start
    return result


def _probe_callback(images, labels):
    """Test AUC/ACC of the current weights after every epoch (after meddl's own validation; Lightning saves the
    epoch's checkpoints after this hook), with the probe's own seconds kept out of the training time."""
    import lightning as L
    from sklearn.metrics import roc_auc_score

    from meddl.tasks.image.evaluation import predict_split

    class TestProbe(L.Callback):
        def __init__(self) -> None:
            self.rows: list[dict] = []
            self.start = self.probe_seconds = 0.0

        def on_train_start(self, trainer, module) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            probe_start = time.perf_counter()
            was_training = module.training
            probs = predict_split(module, images)
            module.train(was_training)
            auc = roc_auc_score(labels, probs[:, 1])
            self.rows.append({"epoch": trainer.current_epoch + 1,
                              "train_seconds": probe_start - self.start - self.probe_seconds,
                              "test_auc": float(auc), "test_acc": float((probs.argmax(axis=1) == labels).mean())})
            self.probe_seconds += time.perf_counter() - probe_start

    return TestProbe()


# The seed's Keras recipe in meddl's terms: Adam at Keras' default rate, batch 32, no augmentation, no schedule,
# float32; isolates the framework's cost from meddl's training choices. The memory format is each framework's own
# (Keras and meddl both pick channels-last on this CPU).
KERAS_RECIPE = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 32, "augment": False,
                "schedule": "constant", "precision": "32-true"}


def run_meddl(model: str, epochs: int, data_dir: Path | None, scratch: Path, name: str, **settings) -> dict:
    import torch

    import meddl
    from meddl.data import load_dataset
    from meddl.tasks.image import load_classifier

    data = load_dataset(DATASET, size=28, data_dir=data_dir)
    probe = _probe_callback(data.images["test"], data.labels["test"].reshape(-1))
    start = time.perf_counter()
    run = meddl.train(DATASET, scratch / name, model=model, epochs=epochs, data_dir=data_dir, progress=False,
                      callbacks=[probe], **settings)
    return {"framework": "meddl", "model": model, "threads": torch.get_num_threads(), "epochs": probe.rows,
            "wall_seconds": time.perf_counter() - start, "hardware": run.metrics["hardware"],
            "parameters": sum(p.numel() for p in load_classifier(run.checkpoint).net.parameters())}


def summarise(name: str, result: dict, baseline: dict | None) -> dict:
    rows = result["epochs"]
    per_epoch = rows[-1]["train_seconds"] / len(rows)
    reached = next((row for row in rows if row["test_auc"] >= TARGET_AUC), None)
    summary = {"run": name, "epochs": len(rows), "parameters": result["parameters"],
               "seconds_per_epoch": per_epoch, "seconds_to_target": reached["train_seconds"] if reached else None,
               "epoch_reached": reached["epoch"] if reached else None, "final_test_auc": rows[-1]["test_auc"],
               "final_test_acc": rows[-1]["test_acc"], "best_test_auc": max(row["test_auc"] for row in rows)}
    if baseline is not None:
        summary["speed_per_epoch_vs_keras"] = baseline["seconds_per_epoch"] / per_epoch
        summary["speed_to_target_vs_keras"] = (baseline["seconds_to_target"] / summary["seconds_to_target"]
                                               if baseline["seconds_to_target"] and summary["seconds_to_target"]
                                               else None)
    return summary


def _cells(summary: dict) -> list[str]:
    def ratio(key: str) -> str:
        value = summary.get(key)
        return "1.00x (baseline)" if key not in summary else (f"{value:.2f}x" if value else "-")

    target = (f"{summary['seconds_to_target']:.1f} s (epoch {summary['epoch_reached']})"
              if summary["seconds_to_target"] is not None else "not reached")
    return [summary["run"], f"{summary['parameters']:,}", str(summary["epochs"]), f"{summary['seconds_per_epoch']:.2f}",
            ratio("speed_per_epoch_vs_keras"), target, ratio("speed_to_target_vs_keras"),
            f"{summary['final_test_auc']:.4f}", f"{summary['final_test_acc']:.4f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="default: MEDDL_DATA_DIR")
    parser.add_argument("--seed-epochs", type=int, default=10, help="epochs of the Keras and meddl seed-cnn runs")
    parser.add_argument("--fast-epochs", type=int, default=40, help="epochs of meddl's fast default")
    args = parser.parse_args()

    import torch

    from meddl.data.medmnist import locate

    data_dir = args.data_dir or (Path(os.environ["MEDDL_DATA_DIR"]) if os.environ.get("MEDDL_DATA_DIR") else None)
    npz = locate(DATASET, 28, data_dir, allow_download=False)
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="meddl-vs-keras-") as folder:
        scratch = Path(folder)
        results = {"keras seed CNN": run_keras(npz, args.seed_epochs, threads, scratch)}
        print("keras done", flush=True)
        results["meddl seed-cnn, Keras recipe"] = run_meddl("seed-cnn", args.seed_epochs, data_dir, scratch,
                                                             "seed-keras-recipe", **KERAS_RECIPE)
        results["meddl seed-cnn"] = run_meddl("seed-cnn", args.seed_epochs, data_dir, scratch, "seed-cnn")
        results["meddl fast default"] = run_meddl("fast-cnn", args.fast_epochs, data_dir, scratch, "fast-cnn")
    baseline = summarise("keras seed CNN", results["keras seed CNN"], None)
    summaries = [baseline] + [summarise(name, results[name], baseline)
                              for name in ("meddl seed-cnn, Keras recipe", "meddl seed-cnn", "meddl fast default")]
    header = ["run", "parameters", "epochs", "s/epoch", "epoch speed vs Keras", f"time to test AUC {TARGET_AUC}",
              "speed to target vs Keras", "final test AUC", "final test ACC"]
    cells = [_cells(summary) for summary in summaries]
    env = environment()
    title = (f"PneumoniaMNIST 28x28, {threads} CPU threads for every run; TensorFlow "
             f"{results['keras seed CNN']['tensorflow']}; {describe(env)}")
    report_results("vs_keras", title, header, cells, {"environment": env, "settings": arguments(args) | {
        "data_dir": str(data_dir)}, "summaries": summaries, "runs": results})


if __name__ == "__main__":
    main()
