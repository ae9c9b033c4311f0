"""MedMNIST 2D benchmark: train meddl on every MedMNIST dataset present locally, once per seed, and set its test
AUC/ACC (mean ± sd over the seeds, with 95% bootstrap intervals) beside every column of the MedMNIST v2 published
table (Yang et al., Scientific Data 2023), with the gap to the best published figure and the time per seed.

Each run is `meddl.api.train` exactly as a user would call it (default: the `fast` preset and its model); the run
folders go to benchmarks/results/medmnist/<dataset>/seed-N/, the table to benchmarks/results/medmnist.{json,md}.

    .venv/bin/python benchmarks/medmnist.py --seeds 0,1,2 --preset best      # every dataset in $MEDDL_DATA_DIR
    .venv/bin/python benchmarks/medmnist.py --datasets breastmnist --epochs 1   # a smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from _common import BENCHMARKS, RESULTS, describe, environment, markdown_table, mean_sd, table, write_json

BASELINES = BENCHMARKS / "medmnist_v2_baselines.yaml"
SHORT = {"resnet18_28": "R18(28)", "resnet50_28": "R50(28)", "resnet18_224": "R18(224)", "resnet50_224": "R50(224)",
         "auto_sklearn": "auto-sklearn", "autokeras": "AutoKeras", "google_automl_vision": "AutoML Vision"}


@dataclass(frozen=True)
class Spec:
    """What one MedMNIST benchmark compares: the registered sets of `spatial_dims`, against the published table in
    `baselines` (method keys shortened to `short` in the tables); results go to `<name>.json/.md`."""

    name: str
    title: str
    spatial_dims: int
    baselines: Path
    short: dict
    table_note: str


SPEC_2D = Spec(
    "medmnist", "MedMNIST 2D", 2, BASELINES, SHORT,
    "Published figures are single values from MedMNIST v2's 2D benchmark table (R18/R50 = ResNet-18/50 at 28 or at "
    "224, the latter on the 28-px images upscaled; auto-sklearn, AutoKeras, AutoML Vision = Google AutoML Vision)",
)


def parse_args(argv: list[str] | None = None, doc: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", default=os.environ.get("MEDDL_DATA_DIR"),
                        help="folder holding the 28x28 MedMNIST .npz files (default: $MEDDL_DATA_DIR)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="only these datasets (default: every registered set of the benchmark whose .npz is present)")
    parser.add_argument("--preset",
                        help="meddl training preset (default: the dataset's own, fast for 2D sets and volume for 3D "
                        "ones): best is the recommended 2D recipe, medmnist-v2 the paper's protocol")
    parser.add_argument("--model", help="registered model name (default: the preset's model)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the preset's)")
    parser.add_argument("--size", type=int, default=28, help="image side (volumes: voxels a side), default 28; the "
                        "published tables are at 28")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 (default 0)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for medmnist.json/.md and the runs (default: benchmarks/results)")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(part) for part in args.seeds.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: expected comma-separated whole numbers, e.g. 0,1,2")
    if not args.seeds:
        parser.error("--seeds: give at least one seed")
    return args


def available_datasets(data_dir: Path, wanted: list[str] | None, spatial_dims: int = 2, size: int = 28) -> list[str]:
    """Registered MedMNIST sets of `spatial_dims` whose file at `size` is in `data_dir` (or its medmnist/ or
    medmnist3d/ sub-folder), in registry order."""
    from meddl.data import list_datasets
    from meddl.data.medmnist import catalog, file_name

    registered = [info.name for info in list_datasets()
                  if info.name in catalog()["datasets"] and info.spatial_dims == spatial_dims]
    if wanted:
        unknown = sorted(set(wanted) - set(registered))
        if unknown:
            sys.exit(f"medmnist.py: unknown dataset(s) {', '.join(unknown)}; registered {spatial_dims}D MedMNIST sets: "
                     f"{', '.join(registered)}")
    present = [name for name in registered
               if any((folder / file_name(name, size)).is_file()
                      for folder in (data_dir, data_dir / "medmnist", data_dir / "medmnist3d"))]
    if wanted:
        missing = [name for name in wanted if name not in present]
        if missing:
            sys.exit(f"medmnist.py: no file at size {size} for {', '.join(missing)} in {data_dir}")
        return [name for name in present if name in wanted]
    return present


def best_published(published: dict, index: int) -> dict:
    """The best published value for AUC (index 0) or ACC (index 1), with every method that reaches it."""
    value = max(pair[index] for pair in published.values())
    return {"value": value, "methods": [method for method, pair in published.items() if pair[index] == value]}


def run_seed(name: str, args: argparse.Namespace, seed: int) -> dict:
    """One training run of `name` with `seed`: the test figures (ACC at 0.5 as MedMNIST defines it, and at the
    threshold tuned on validation), their bootstrap intervals, and the time it took."""
    from meddl.api import train

    run_dir = args.output / "medmnist" / name / f"size-{args.size}" / f"seed-{seed}"
    start = time.perf_counter()
    result = train(name, output_dir=run_dir, model=args.model, data_dir=args.data_dir, preset=args.preset,
                   overwrite=True, progress=False, epochs=args.epochs, seed=seed, size=args.size)
    wall = time.perf_counter() - start
    metrics, config = result.metrics, result.metrics["config"]
    test, ci = metrics["test"], metrics["test"]["ci"]
    deployed = test.get("operating_point") or {}
    n_train, epochs = metrics["split_sizes"]["train"], metrics["epochs_run"]
    return {
        "seed": seed,
        "model": metrics["model"],
        "preset": config["preset"],
        "ensemble": config.get("ensemble", 1),
        "epochs_configured": config["epochs"],
        "epochs_run": epochs,
        "best_epoch": metrics.get("best_epoch"),
        "hardware": metrics["hardware"],
        "test_auc": test["auc"],
        "test_auc_ci95": ci.get("auc"),
        "test_acc": test["acc"],
        "test_acc_ci95": ci.get("acc"),
        # binary sets: ACC at the threshold tuned on validation (None where the task has no threshold)
        "test_acc_tuned": deployed.get("acc") if deployed.get("threshold") is not None else None,
        "threshold": deployed.get("threshold"),
        "n_test": test["n"],
        "n_train": n_train,
        "wall_time_s": round(wall, 2),
        "fit_seconds": metrics["fit_seconds"],
        # training images x epochs x ensemble members / fit seconds: each member sees every image
        "train_images_per_s": round(n_train * epochs * config.get("ensemble", 1) / metrics["fit_seconds"], 1)
        if metrics["fit_seconds"] else None,
        "run_dir": str(run_dir),
    }


FIGURES = ("test_auc", "test_acc", "test_acc_tuned", "wall_time_s", "train_images_per_s")


def summarise(name: str, runs: list[dict], baselines: dict) -> dict:
    """Mean ± sd over the seeds of each figure, the mean 95% interval of one run, the published columns, the gap
    to the best of them and whether the goal (at least the best published AUC and ACC) is met."""
    summary = {"dataset": name, "seeds": [r["seed"] for r in runs], "runs": runs}
    for key in FIGURES:
        values = [r[key] for r in runs if r.get(key) is not None]
        summary[key] = mean_sd(values) if values else None
    for key in ("test_auc_ci95", "test_acc_ci95"):
        bounds = [r[key] for r in runs if r.get(key) and r[key][0] is not None]
        summary[key] = [round(sum(b[i] for b in bounds) / len(bounds), 4) for i in (0, 1)] if bounds else None
    published = baselines["datasets"].get(name)
    if published:
        best_auc, best_acc = best_published(published, 0), best_published(published, 1)
        auc, acc = summary["test_auc"]["mean"], summary["test_acc"]["mean"]
        summary.update({
            "published": {method: {"auc": pair[0], "acc": pair[1]} for method, pair in published.items()},
            "best_published_auc": best_auc,
            "best_published_acc": best_acc,
            "gap_auc": _gap(auc, best_auc["value"]),
            "gap_acc": _gap(acc, best_acc["value"]),
            # the published figures have three decimals: meddl's mean is compared at that precision
            "goal_auc_met": round(auc, 3) >= best_auc["value"],
            "goal_acc_met": round(acc, 3) >= best_acc["value"],
        })
    return summary


def _gap(ours: float | None, theirs: float) -> float | None:
    return None if ours is None else round(ours - theirs, 4)


def _mean_sd(figure: dict | None, digits: int = 3) -> str:
    if not figure:
        return "-"
    if len(figure["values"]) == 1:
        return f"{figure['mean']:.{digits}f}"
    return f"{figure['mean']:.{digits}f} ± {figure['sd']:.{digits}f}"


def _interval(bounds: list | None) -> str:
    return "-" if not bounds else f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def _best(best: dict | None, short: dict) -> str:
    if not best:
        return "-"
    return f"{best['value']:.3f} ({', '.join(short[m] for m in best['methods'])})"


def _signed(value: float | None, met: bool | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" + ("" if met is None else (" met" if met else " missed"))


HEADER = ["dataset", "AUC mean ± sd", "AUC 95% CI", "ACC mean ± sd", "ACC 95% CI", "ACC tuned thr.",
          "best pub. AUC", "dAUC", "best pub. ACC", "dACC", "wall s / seed", "train img/s"]


def rows_for(results: list[dict], short: dict = SHORT) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["dataset"], "FAILED (see below)"] + [""] * (len(HEADER) - 2))
            continue
        rows.append([
            r["dataset"],
            _mean_sd(r["test_auc"]),
            _interval(r["test_auc_ci95"]),
            _mean_sd(r["test_acc"]),
            _interval(r["test_acc_ci95"]),
            _mean_sd(r["test_acc_tuned"]),
            _best(r.get("best_published_auc"), short),
            _signed(r.get("gap_auc"), r.get("goal_auc_met")),
            _best(r.get("best_published_acc"), short),
            _signed(r.get("gap_acc"), r.get("goal_acc_met")),
            _mean_sd(r["wall_time_s"], 0),
            _mean_sd(r["train_images_per_s"], 0),
        ])
    return rows


def published_rows(results: list[dict], short: dict = SHORT) -> list[list[str]]:
    rows = []
    for r in results:
        published = r.get("published")
        if published:
            rows.append([r["dataset"], *(f"{published[m]['auc']:.3f} / {published[m]['acc']:.3f}" if m in published
                                         else "-" for m in short)])
    return rows


def notes(spec: Spec = SPEC_2D) -> str:
    return (
        "AUC/ACC: meddl's test-set figures, mean ± sample sd over the seeds; 95% CI = the mean over the seeds of each "
        "run's percentile-bootstrap interval (cases resampled), i.e. the uncertainty of one run's figure. ACC is "
        "MedMNIST's (threshold 0.5 for binary sets, argmax otherwise); 'ACC tuned thr.' is ACC at the threshold "
        f"tuned on validation (binary sets only). {spec.table_note}; dAUC/dACC = meddl's mean minus the best "
        "published value, 'met' when the mean rounded to three decimals reaches it. wall s = one whole "
        "`meddl.api.train` call (load, fit, test evaluation, bootstrap, report). train img/s = training images x "
        "epochs run x ensemble members / fit seconds, where fit seconds include each epoch's validation and "
        "checkpoint writes."
    )


def failures(results: list[dict]) -> str:
    return "\n".join(f"{r['dataset']} failed: {r['error']}" for r in results if "error" in r)


def write_markdown(path: Path, payload: dict, spec: Spec = SPEC_2D) -> None:
    settings = payload["settings"]
    size = settings.get("size", 28)
    lines = [
        f"# meddl on {spec.title} (size {size}) vs MedMNIST v2 published baselines",
        "",
        f"preset `{settings['preset'] or 'dataset default'}`, model `{settings['model'] or 'preset default'}`, epochs "
        f"`{settings['epochs'] or 'preset default'}`, seeds {', '.join(map(str, settings['seeds']))}; "
        f"{describe(payload['environment'])}; {payload['environment']['date_utc']}.",
        "",
        markdown_table(rows_for(payload["results"], spec.short), HEADER),
        "",
        *([failures(payload["results"]), ""] if failures(payload["results"]) else []),
        notes(spec),
        "",
        "Published AUC / ACC (MedMNIST v2):",
        "",
        markdown_table(published_rows(payload["results"], spec.short), ["dataset", *spec.short.values()]),
        "",
        f"Baselines: {payload['baselines_source']} (values and how far they were checked: "
        f"benchmarks/{spec.baselines.name}).",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None, spec: Spec = SPEC_2D, doc: str | None = None) -> int:
    args = parse_args(argv, doc)
    script = f"{spec.name}.py"
    if not args.data_dir:
        sys.exit(f"{script}: no data folder; pass --data-dir or set MEDDL_DATA_DIR")
    args.data_dir = Path(args.data_dir).expanduser()
    baselines = yaml.safe_load(spec.baselines.read_text())
    names = available_datasets(args.data_dir, args.datasets, spec.spatial_dims, args.size)
    if not names:
        sys.exit(f"{script}: no {spec.title} .npz files at size {args.size} in {args.data_dir}")
    env = environment()
    print(describe(env))
    print(f"datasets: {', '.join(names)}  (preset {args.preset or 'dataset default'}, "
          f"model {args.model or 'preset default'}, epochs {args.epochs or 'preset default'}, seeds {','.join(map(str, args.seeds))})\n")
    payload = {
        "benchmark": spec.name,
        "settings": {"preset": args.preset, "model": args.model, "epochs": args.epochs, "data_dir": str(args.data_dir),
                     "datasets": names, "seeds": args.seeds, "size": args.size},
        "environment": env,
        "baselines_source": baselines["source"],
        "notes": notes(spec),
        "results": [],
    }
    json_path, md_path = args.output / f"{spec.name}.json", args.output / f"{spec.name}.md"
    for name in names:
        runs = []
        try:
            for seed in args.seeds:
                print(f"[{name}] seed {seed} training ...", flush=True)
                run = run_seed(name, args, seed)
                print(f"[{name}] seed {seed} done in {run['wall_time_s']:.0f} s: AUC {run['test_auc']:.3f}, "
                      f"ACC {run['test_acc']:.3f}", flush=True)
                runs.append(run)
            row = summarise(name, runs, baselines)
        except Exception as error:  # record the failure and go on: one broken set should not void a long run
            row = {"dataset": name, "error": f"{type(error).__name__}: {error}", "runs": runs}
        payload["results"].append(row)
        write_json(json_path, payload)  # after every dataset, so a long run that dies keeps what it has
        write_markdown(md_path, payload, spec)
    print()
    print(table(rows_for(payload["results"], spec.short), HEADER))
    print()
    if failures(payload["results"]):
        print(failures(payload["results"]) + "\n")
    print(notes(spec))
    print(f"\nwrote {json_path} and {md_path}")
    return 1 if any("error" in row for row in payload["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
