"""One process against N data-parallel processes (Lightning DDP) on the same data, epochs and global batch size.

Each configuration runs `meddl train` as its own command, as a user would launch it; the global batch is kept equal
(per-process batch = global / N), so the runs differ only in how the work is split. Prints wall time, training time,
training images/s and test AUC/ACC per process count, with ratios against one process, and writes
results/ddp.json and results/ddp.md.

    MEDDL_DATA_DIR=../shared/data .venv/bin/python benchmarks/ddp.py                      # CPU, 1 vs 2 processes
    .venv/bin/python benchmarks/ddp.py --accelerator gpu --processes 1 2 4 8 --epochs 10  # a multi-GPU node
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import arguments, describe, environment, report_results


def run(dataset: str, processes: int, args: argparse.Namespace, output: Path) -> dict:
    meddl = Path(sys.executable).parent / "meddl"
    command = [str(meddl), "train", dataset, "--output-dir", str(output), "--epochs", str(args.epochs),
               "--accelerator", args.accelerator, "--devices", str(processes),
               "--batch-size", str(args.global_batch // processes), "--seed", str(args.seed)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    metrics = json.loads((output / "metrics.json").read_text())
    train_images = metrics["split_sizes"]["train"]
    return {
        "processes": processes,
        "batch_per_process": args.global_batch // processes,
        "wall_seconds": round(wall, 2),
        "fit_seconds": metrics["fit_seconds"],
        "train_images_per_second": round(train_images * metrics["epochs_run"] / metrics["fit_seconds"], 1),
        "test_auc": metrics["test"]["auc"],
        "test_acc": metrics["test"]["acc"],
        "last_val_auc": metrics["history"][-1].get("val_auc"),
        "hardware": metrics["hardware"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="pneumoniamnist")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--global-batch", type=int, default=128)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="meddl-ddp-") as scratch:
        for processes in args.processes:
            rows.append(run(args.dataset, processes, args, Path(scratch) / f"p{processes}"))
            print(f"{processes} process(es): {rows[-1]['wall_seconds']} s", flush=True)
    base = rows[0]
    header = ["processes", "batch/process", "wall s", "fit s", "fit speed-up", "train img/s", "test AUC", "test ACC"]
    cells = [[r["processes"], r["batch_per_process"], f"{r['wall_seconds']:.1f}", f"{r['fit_seconds']:.1f}",
              f"{base['fit_seconds'] / r['fit_seconds']:.2f}x", r["train_images_per_second"],
              f"{r['test_auc']:.4f}", f"{r['test_acc']:.4f}"] for r in rows]
    env = environment()
    title = (f"{args.dataset}, {args.epochs} epochs, global batch {args.global_batch}, accelerator "
             f"{args.accelerator}; {describe(env)}")
    report_results("ddp", title, header, cells, {"environment": env, "settings": arguments(args), "runs": rows})


if __name__ == "__main__":
    main()
