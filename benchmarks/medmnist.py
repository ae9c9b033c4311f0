"""MedMNIST 2D benchmark: train meddl on every MedMNIST dataset present locally and set its test AUC/ACC (with 95%
bootstrap intervals) beside the MedMNIST v2 published baselines (Yang et al., Scientific Data 2023).

Each dataset is trained with `meddl.api.train` exactly as a user would (default: the `fast` preset and its model);
the run folders go to benchmarks/results/medmnist/<dataset>/, the table to benchmarks/results/medmnist.{json,md}.

    .venv/bin/python benchmarks/medmnist.py                       # every dataset found in $MEDDL_DATA_DIR
    .venv/bin/python benchmarks/medmnist.py --datasets breastmnist --epochs 1   # a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from _common import BENCHMARKS, RESULTS, describe, environment, markdown_table, table, write_json

BASELINES = BENCHMARKS / "medmnist_v2_baselines.yaml"
SHORT = {"resnet18_28": "R18", "resnet50_28": "R50", "auto_sklearn": "auto-sklearn", "autokeras": "AutoKeras",
         "google_automl_vision": "AutoML Vision"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", default=os.environ.get("MEDDL_DATA_DIR"),
                        help="folder holding the 28x28 MedMNIST .npz files (default: $MEDDL_DATA_DIR)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="only these datasets (default: every registered MedMNIST 2D set whose .npz is present)")
    parser.add_argument("--preset", default="fast", help="meddl training preset: fast (default) or medmnist-v2")
    parser.add_argument("--model", help="registered model name (default: the preset's model)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the preset's)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for medmnist.json/.md and the runs (default: benchmarks/results)")
    return parser.parse_args(argv)


def available_datasets(data_dir: Path, wanted: list[str] | None) -> list[str]:
    """Registered MedMNIST sets whose 28x28 file is in `data_dir` (or its medmnist/ sub-folder), in registry order."""
    from meddl.data import list_datasets
    from meddl.data.medmnist import file_name

    registered = [info.name for info in list_datasets()]
    if wanted:
        unknown = sorted(set(wanted) - set(registered))
        if unknown:
            sys.exit(f"medmnist.py: unknown dataset(s) {', '.join(unknown)}; registered: {', '.join(registered)}")
    present = [name for name in registered
               if (data_dir / file_name(name, 28)).is_file() or (data_dir / "medmnist" / file_name(name, 28)).is_file()]
    if wanted:
        missing = [name for name in wanted if name not in present]
        if missing:
            sys.exit(f"medmnist.py: no 28x28 file for {', '.join(missing)} in {data_dir}")
        return [name for name in present if name in wanted]
    return present


def best_published(published: dict, index: int) -> dict:
    """The best published value for AUC (index 0) or ACC (index 1), with every method that reaches it."""
    value = max(pair[index] for pair in published.values())
    return {"value": value, "methods": [method for method, pair in published.items() if pair[index] == value]}


def run_dataset(name: str, args: argparse.Namespace, baselines: dict) -> dict:
    from meddl.api import train

    run_dir = args.output / "medmnist" / name
    start = time.perf_counter()
    result = train(name, output_dir=run_dir, model=args.model, data_dir=args.data_dir, preset=args.preset,
                   overwrite=True, progress=False, epochs=args.epochs)
    wall = time.perf_counter() - start
    metrics, config = result.metrics, result.metrics["config"]
    test, ci = metrics["test"], metrics["test"]["ci"]
    n_train = metrics["split_sizes"]["train"]
    epochs = metrics["epochs_run"]
    published = baselines["datasets"].get(name)
    row = {
        "dataset": name,
        "model": metrics["model"],
        "preset": config["preset"],
        "epochs_configured": config["epochs"],
        "epochs_run": epochs,
        "best_epoch": metrics.get("best_epoch"),
        "hardware": metrics["hardware"],
        "test_auc": test["auc"],
        "test_auc_ci95": ci.get("auc"),
        "test_acc": test["acc"],
        "test_acc_ci95": ci.get("acc"),
        "n_test": test["n"],
        "n_train": n_train,
        "wall_time_s": round(wall, 2),
        "meddl_wall_time_s": metrics["wall_time_s"],
        "fit_seconds": metrics["fit_seconds"],
        "train_images_per_s": round(n_train * epochs / metrics["fit_seconds"], 1) if metrics["fit_seconds"] else None,
        "run_dir": str(run_dir),
    }
    if published:
        best_auc, best_acc = best_published(published, 0), best_published(published, 1)
        row.update({
            "published": {method: {"auc": pair[0], "acc": pair[1]} for method, pair in published.items()},
            "best_published_auc": best_auc,
            "best_published_acc": best_acc,
            "gap_auc": _gap(test["auc"], best_auc["value"]),
            "gap_acc": _gap(test["acc"], best_acc["value"]),
            "gap_auc_vs_resnet18_28": _gap(test["auc"], published["resnet18_28"][0]),
            "gap_acc_vs_resnet18_28": _gap(test["acc"], published["resnet18_28"][1]),
        })
    return row


def _gap(ours: float | None, theirs: float) -> float | None:
    return None if ours is None else round(ours - theirs, 4)


def _with_ci(value: float | None, interval: list | None) -> str:
    if value is None:
        return "n/a"
    if not interval or interval[0] is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _best(best: dict | None) -> str:
    if not best:
        return "-"
    return f"{best['value']:.3f} ({', '.join(SHORT[m] for m in best['methods'])})"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


HEADER = ["dataset", "AUC [95% CI]", "ACC [95% CI]", "best pub. AUC", "dAUC", "best pub. ACC", "dACC",
          "R18(28) AUC/ACC", "wall s", "train img/s"]


def rows_for(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["dataset"], "FAILED (see below)"] + [""] * (len(HEADER) - 2))
            continue
        r18 = r.get("published", {}).get("resnet18_28")
        rows.append([
            r["dataset"],
            _with_ci(r["test_auc"], r["test_auc_ci95"]),
            _with_ci(r["test_acc"], r["test_acc_ci95"]),
            _best(r.get("best_published_auc")),
            _signed(r.get("gap_auc")),
            _best(r.get("best_published_acc")),
            _signed(r.get("gap_acc")),
            f"{r18['auc']:.3f}/{r18['acc']:.3f}" if r18 else "-",
            f"{r['wall_time_s']:.1f}",
            f"{r['train_images_per_s']:.0f}" if r["train_images_per_s"] else "-",
        ])
    return rows


NOTES = (
    "AUC/ACC: meddl's test-set figures with 95% percentile-bootstrap intervals (cases resampled). "
    "Published figures are single values from MedMNIST v2's 2D benchmark table at 28x28 "
    "(R18/R50 = ResNet-18/50 (28), auto-sklearn, AutoKeras, AutoML Vision = Google AutoML Vision); "
    "dAUC/dACC = meddl minus the best published value. "
    "wall s = the whole `meddl.api.train` call (load, fit, test evaluation, bootstrap, report), timed by this "
    "script (metrics.json's own wall_time_s, kept as meddl_wall_time_s, covers the same work from inside). "
    "train img/s = training images x epochs run / fit seconds, where fit seconds include each epoch's validation "
    "and checkpoint writes (an end-to-end rate, not a pure step rate; see throughput.py for that)."
)


def failures(results: list[dict]) -> str:
    return "\n".join(f"{r['dataset']} failed: {r['error']}" for r in results if "error" in r)


def write_markdown(path: Path, payload: dict) -> None:
    settings = payload["settings"]
    lines = [
        "# meddl on MedMNIST 2D (28x28) vs MedMNIST v2 published baselines",
        "",
        f"preset `{settings['preset']}`, model `{settings['model'] or 'preset default'}`, epochs "
        f"`{settings['epochs'] or 'preset default'}`; {describe(payload['environment'])}; {payload['environment']['date_utc']}.",
        "",
        markdown_table(rows_for(payload["results"]), HEADER),
        "",
        *([failures(payload["results"]), ""] if failures(payload["results"]) else []),
        NOTES,
        "",
        f"Baselines: {payload['baselines_source']} (values and how far they were checked: "
        "benchmarks/medmnist_v2_baselines.yaml).",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data_dir:
        sys.exit("medmnist.py: no data folder; pass --data-dir or set MEDDL_DATA_DIR")
    args.data_dir = Path(args.data_dir).expanduser()
    baselines = yaml.safe_load(BASELINES.read_text())
    names = available_datasets(args.data_dir, args.datasets)
    if not names:
        sys.exit(f"medmnist.py: no MedMNIST 28x28 .npz files in {args.data_dir}")
    env = environment()
    print(describe(env))
    print(f"datasets: {', '.join(names)}  (preset {args.preset}, model {args.model or 'preset default'}, "
          f"epochs {args.epochs or 'preset default'})\n")
    payload = {
        "benchmark": "medmnist",
        "settings": {"preset": args.preset, "model": args.model, "epochs": args.epochs, "data_dir": str(args.data_dir),
                     "datasets": names},
        "environment": env,
        "baselines_source": baselines["source"],
        "notes": NOTES,
        "results": [],
    }
    json_path, md_path = args.output / "medmnist.json", args.output / "medmnist.md"
    for name in names:
        print(f"[{name}] training ...", flush=True)
        start = time.perf_counter()
        try:
            row = run_dataset(name, args, baselines)
        except Exception as error:  # record the failure and go on: one broken set should not void a long run
            row = {"dataset": name, "error": f"{type(error).__name__}: {error}"}
        print(f"[{name}] done in {time.perf_counter() - start:.0f} s"
              + (f": AUC {row['test_auc']:.3f}, ACC {row['test_acc']:.3f}" if "error" not in row else f": {row['error']}"),
              flush=True)
        payload["results"].append(row)
        write_json(json_path, payload)  # after every dataset, so a long run that dies keeps what it has
        write_markdown(md_path, payload)
    print()
    print(table(rows_for(payload["results"]), HEADER))
    print()
    if failures(payload["results"]):
        print(failures(payload["results"]) + "\n")
    print(NOTES)
    print(f"\nwrote {json_path} and {md_path}")
    return 1 if any("error" in row for row in payload["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
