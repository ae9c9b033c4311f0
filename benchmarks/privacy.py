"""Privacy-utility benchmark: test AUC (with 95% bootstrap intervals) of DP-SGD training at several privacy budgets
next to the same training without privacy, on one MedMNIST dataset (default PneumoniaMNIST).

Every run is `meddl.api.train` with the same model, epochs, batch size, optimiser, seed and precision; only `dp` and
`epsilon` change (delta: meddl's default, the largest power of ten below 1/N_train, at most 1e-5). Run folders go to
benchmarks/results/privacy/<run>/, the table to benchmarks/results/privacy.{json,md}.

    .venv/bin/python benchmarks/privacy.py                                   # eps 1, 3, 8 and non-private
    .venv/bin/python benchmarks/privacy.py --dataset breastmnist --epochs 1 --epsilons 8   # a smoke test
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import RESULTS, describe, environment, markdown_table, table, write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("MEDDL_DATA_DIR"),
                        help="folder holding the 28x28 MedMNIST .npz files (default: $MEDDL_DATA_DIR)")
    parser.add_argument("--dataset", default="pneumoniamnist")
    parser.add_argument("--model", default="fast-cnn", help="registered model, the same for every run")
    parser.add_argument("--epochs", type=int, default=8,
                        help="epochs for every run (default 8: the whole benchmark in about 15 min with --threads 1 "
                        "on a busy 2-core CPU)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (the mean Poisson batch under DP)")
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 8.0], help="privacy budgets")
    parser.add_argument("--precision", default="32-true",
                        help="every run's precision (DP-SGD needs 32-true; the baseline uses it too to compare alike)")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: torch's choice; 1 is several times faster on a CPU that "
                        "other jobs keep busy)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for privacy.json/.md and the runs")
    return parser.parse_args(argv)


def run_one(name: str, args: argparse.Namespace, epsilon: float | None) -> dict:
    from meddl.api import train

    options = {"dp": True, "epsilon": epsilon} if epsilon is not None else {}
    start = time.perf_counter()
    result = train(args.dataset, output_dir=args.output / "privacy" / name, model=args.model, data_dir=args.data_dir,
                   overwrite=True, progress=False, epochs=args.epochs, batch_size=args.batch_size,
                   precision=args.precision, **options)
    wall = time.perf_counter() - start
    metrics = result.metrics
    test, ci, privacy = metrics["test"], metrics["test"]["ci"], metrics.get("privacy")
    return {
        "run": name,
        "target_epsilon": epsilon,
        "epsilon_spent": privacy["epsilon"] if privacy else None,
        "delta": privacy["delta"] if privacy else None,
        "noise_multiplier": privacy["noise_multiplier"] if privacy else None,
        "sample_rate": privacy["sample_rate"] if privacy else None,
        "max_grad_norm": privacy["max_grad_norm"] if privacy else None,
        "test_auc": test["auc"],
        "test_auc_ci95": ci.get("auc"),
        "test_acc": test["acc"],
        "test_acc_ci95": ci.get("acc"),
        "best_epoch": metrics.get("best_epoch"),
        "epochs_run": metrics["epochs_run"],
        "n_train": metrics["split_sizes"]["train"],
        "n_test": test["n"],
        "hardware": metrics["hardware"],
        "wall_time_s": round(wall, 1),
        "fit_seconds": metrics["fit_seconds"],
        "run_dir": str(args.output / "privacy" / name),
    }


def _with_ci(value: float, interval: list | None) -> str:
    if not interval or interval[0] is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


HEADER = ["run", "target eps", "spent eps", "delta", "noise mult.", "AUC [95% CI]", "ACC [95% CI]", "best epoch",
          "wall s", "fit s"]


def rows_for(results: list[dict]) -> list[list[str]]:
    return [[
        r["run"],
        "-" if r["target_epsilon"] is None else f"{r['target_epsilon']:g}",
        "-" if r["epsilon_spent"] is None else f"{r['epsilon_spent']:.3f}",
        "-" if r["delta"] is None else f"{r['delta']:g}",
        "-" if r["noise_multiplier"] is None else f"{r['noise_multiplier']:.3f}",
        _with_ci(r["test_auc"], r["test_auc_ci95"]),
        _with_ci(r["test_acc"], r["test_acc_ci95"]),
        str(r["best_epoch"]),
        f"{r['wall_time_s']:.0f}",
        f"{r['fit_seconds']:.0f}",
    ] for r in results]


NOTES = (
    "DP runs: DP-SGD (Opacus) with per-image clipping at max_grad_norm 1.0, Poisson sampling at rate "
    "1/steps-per-epoch, noise calibrated so that the configured epochs spend the target epsilon under the RDP "
    "accountant; 'spent eps' is the accountant's figure at the end of training. The model is the DP-compatible "
    "variant (BatchNorm replaced by GroupNorm); the non-private run trains the original architecture. "
    "AUC/ACC: test set, 95% percentile-bootstrap intervals (1000 resamples of the test cases). "
    "wall s: the whole `meddl.api.train` call timed by this script (load, fit, test evaluation, bootstrap, report); "
    "fit s: training with each epoch's validation and checkpoints."
)


def write_markdown(path: Path, payload: dict) -> None:
    s = payload["settings"]
    lines = [
        f"# Differential privacy on {s['dataset']}: test AUC by privacy budget",
        "",
        f"model `{s['model']}`, {s['epochs']} epochs, batch size {s['batch_size']}, precision {s['precision']}, "
        f"fast preset otherwise; {describe(payload['environment'])}; {payload['environment']['date_utc']}; "
        f"whole benchmark {payload['total_wall_time_s']:.0f} s.",
        "",
        markdown_table(rows_for(payload["results"]), HEADER),
        "",
        NOTES,
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    runs = [("non-private", None), *[(f"dp-eps{epsilon:g}", epsilon) for epsilon in args.epsilons]]
    results = []
    for name, epsilon in runs:
        print(f"[privacy] {name} ...", flush=True)
        results.append(run_one(name, args, epsilon))
        print(table(rows_for(results[-1:]), HEADER), flush=True)
    payload = {
        "settings": {"dataset": args.dataset, "model": args.model, "epochs": args.epochs,
                     "batch_size": args.batch_size, "precision": args.precision, "epsilons": args.epsilons,
                     "threads": args.threads},
        "environment": environment(),
        "total_wall_time_s": round(time.perf_counter() - start, 1),
        "results": results,
    }
    write_json(args.output / "privacy.json", payload)
    write_markdown(args.output / "privacy.md", payload)
    print()
    print(table(rows_for(results), HEADER))
    print(f"\nwhole benchmark {payload['total_wall_time_s']:.0f} s; {describe(payload['environment'])}")
    print(f"wrote {args.output / 'privacy.json'} and {args.output / 'privacy.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
