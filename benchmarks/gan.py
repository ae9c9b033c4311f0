"""GAN benchmark: a class-conditional DCGAN per dataset (BloodMNIST and PneumoniaMNIST at 28x28 by default), judged
by `meddl gan evaluate`: domain FID, precision/recall (k=3), memorisation, TSTR vs TRTR AUC and the augmentation
table (real only vs real + synthetic at 10%, 25% and 100% of the real training set, test AUC with 95% CIs).

The GAN is trained with `meddl.api.synthesize`'s defaults and timed (target: under 30 minutes per dataset
on a laptop CPU), or an existing checkpoint is reused with --gan-checkpoint NAME=PATH (its training time is read
from the run's gan_run.json). Runs go to benchmarks/results/gan/<dataset>/, the tables to results/gan.{json,md}.

    .venv/bin/python benchmarks/gan.py --data-dir /work/shared/data/medmnist
    .venv/bin/python benchmarks/gan.py --gan-checkpoint bloodmnist=runs/gan-bloodmnist/checkpoints/last.ckpt \\
        --gan-checkpoint pneumoniamnist=runs/gan-pneumoniamnist/checkpoints/last.ckpt
    .venv/bin/python benchmarks/gan.py --datasets pneumoniamnist --gan-epochs 1 --n 500 --classifier-epochs 1  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _common import RESULTS, arguments, describe, environment, markdown_table, table, write_json

TSTR_TARGET = 0.85  # the target: TSTR AUC >= 85% of TRTR AUC, on BloodMNIST
TARGET_DATASETS = ("bloodmnist",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("MEDDL_DATA_DIR"),
                        help="folder holding the 28x28 MedMNIST .npz files (default: $MEDDL_DATA_DIR)")
    parser.add_argument("--datasets", nargs="+", default=["bloodmnist", "pneumoniamnist"], metavar="NAME")
    parser.add_argument("--gan-checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="reuse this GAN checkpoint for dataset NAME instead of training one (repeatable)")
    parser.add_argument("--gan-epochs", type=int, help="GAN training epochs (default: meddl.api.synthesize's)")
    parser.add_argument("--max-minutes", type=float, help="stop each GAN's training after this many minutes")
    parser.add_argument("--n", type=int, help="synthetic images (default: as many as the real training set)")
    parser.add_argument("--classifier-epochs", type=int, help="epochs of every classifier (default: evaluate_gan's)")
    parser.add_argument("--inception-weights", type=Path, help="pt_inception-2015-12-05 weights for standard FID")
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for gan.json/.md and the runs")
    parser.add_argument("--reuse-evaluations", action="store_true",
                        help="take a dataset's metrics.json from an earlier run of this script when it judged the "
                             "same checkpoint, instead of evaluating again")
    return parser.parse_args(argv)


def checkpoints(pairs: list[str], names: list[str]) -> dict[str, Path]:
    found = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or name not in names:
            sys.exit(f"gan.py: --gan-checkpoint expects NAME=PATH with NAME one of {', '.join(names)}, got {pair!r}")
        found[name] = Path(path).expanduser()
    return found


def train_or_reuse(name: str, args: argparse.Namespace, given: Path | None) -> tuple[Path, dict]:
    """The GAN checkpoint for `name` and its training record (gan_run.json: epochs, fit seconds, collapse)."""
    from meddl.api import synthesize
    from meddl.tasks.synthesis.training import RUN_FILE

    if given is None:
        options = {key: value for key, value in (("epochs", args.gan_epochs), ("max_minutes", args.max_minutes))
                   if value is not None}
        given = synthesize(name, args.output / "gan" / name / "run", data_dir=args.data_dir, overwrite=True,
                           progress=False, **options).checkpoint
    run_file = given.parent.parent / RUN_FILE
    return given, json.loads(run_file.read_text()) if run_file.is_file() else {}


def run_dataset(name: str, args: argparse.Namespace, given: Path | None) -> dict:
    from meddl.tasks.synthesis.evaluation import METRICS_FILE, evaluate_gan

    start = time.perf_counter()
    checkpoint, run = train_or_reuse(name, args, given)
    output = args.output / "gan" / name / "evaluation"
    earlier = output / METRICS_FILE
    reused = args.reuse_evaluations and earlier.is_file() and \
        json.loads(earlier.read_text())["checkpoint"] == str(checkpoint)
    if reused:
        metrics = json.loads(earlier.read_text())
    else:
        options = {"classifier_epochs": args.classifier_epochs} if args.classifier_epochs else {}
        metrics = evaluate_gan(checkpoint, output, data_dir=args.data_dir, n=args.n,
                               inception_weights=args.inception_weights, progress=False, **options)
    utility = metrics["utility"]
    return {
        "dataset": name,
        "checkpoint": str(checkpoint),
        "gan_reused": given is not None,
        "gan_epochs": run.get("epochs_trained"),
        "gan_fit_minutes": round(run["fit_seconds"] / 60, 1) if run.get("fit_seconds") else None,
        "gan_config": run.get("config"),
        "collapse": run.get("collapse"),
        "metrics": metrics,
        "evaluation_reused": bool(reused),
        "tstr_target_met": None if utility.get("tstr_over_trtr") is None or name not in TARGET_DATASETS
        else utility["tstr_over_trtr"] >= TSTR_TARGET,
        "wall_time_s": round(time.perf_counter() - start, 1),  # this script's call (near 0 when reused)
        "evaluation_wall_time_s": metrics["wall_time_s"],
    }


def _auc(summary: dict) -> str:
    if summary["auc"] is None:
        return "n/a"
    ci = summary.get("auc_ci95") or [None, None]
    return f"{summary['auc']:.3f}" + ("" if ci[0] is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]")


QUALITY_HEADER = ["dataset", "GAN min (epochs)", "domain FID", "FID real/real", "precision", "recall",
                  "near-copies px/feat (real)", "Inception FID", "TSTR AUC", "TRTR AUC", "TSTR/TRTR"]
AUGMENT_HEADER = ["dataset", "real fraction", "n real", "n synthetic", "steps", "real only AUC",
                  "real + synthetic AUC", "gain"]


def quality_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["dataset"], "FAILED (see below)"] + [""] * (len(QUALITY_HEADER) - 2))
            continue
        m = r["metrics"]
        d, mem, u = m["domain"], m["memorisation"], m["utility"]
        minutes = "-" if r["gan_fit_minutes"] is None else f"{r['gan_fit_minutes']:.1f} ({r['gan_epochs']})"
        rows.append([
            r["dataset"], minutes, f"{d['fid']:.4g}", f"{d['fid_real_test_vs_train']:.4g}",
            f"{d['precision']:.3f}", f"{d['recall']:.3f}",
            f"{mem['pixels']['flagged_fraction']:.1%}/{mem['features']['flagged_fraction']:.1%} "
            f"({mem['pixels']['expected_fraction']:.1%})",
            "-" if m["inception"]["fid"] is None else f"{m['inception']['fid']:.4g}",
            _auc(u["tstr"]) if "tstr" in u else "-", _auc(u["trtr"]) if "trtr" in u else "-",
            "-" if u.get("tstr_over_trtr") is None else f"{u['tstr_over_trtr']:.3f}",
        ])
    return rows


def augment_rows(results: list[dict]) -> list[list[str]]:
    return [[r["dataset"], f"{row['fraction']:.0%}", str(row["n_real"]), str(row["n_synthetic"]),
             str(row.get("steps", "?")), _auc(row["real_only"]), _auc(row["real_plus_synthetic"]),
             "n/a" if row["auc_gain"] is None else f"{row['auc_gain']:+.3f}"]
            for r in results if "error" not in r for row in r["metrics"]["utility"].get("augmentation", [])]


NOTES = (
    "Domain FID, precision/recall (k=3, Kynkäänniemi et al. 2019) and feature-space memorisation use the "
    "penultimate features of a fast-cnn trained on the real training set (the TRTR classifier). FID real/real is "
    "the same distance between the real test and real training sets: about what a perfect generator would score. "
    "Near-copies: synthetic images closer to a training image than 99% of real test images are (1st percentile of "
    "test->train nearest distances), in pixel and feature space; the real-test rate in brackets is ~1% by "
    "construction. TSTR: fast-cnn trained on synthetic images only (90/10 synthetic train/val), tested on the real "
    "test set; TRTR: the same classifier and epochs on the real training set. Augmentation: stratified seeded "
    "fractions of the real training set with and without the synthetic set added (as many synthetic images as "
    "the full real training set), real val/test; AUCs with 95% percentile-bootstrap intervals. GAN minutes: "
    "training wall time from the run record (no evaluation)."
)


def failures(results: list[dict]) -> str:
    return "\n".join(f"{r['dataset']} failed: {r['error']}" for r in results if "error" in r)


def target_line(results: list[dict]) -> str:
    lines = []
    for r in results:
        met = r.get("tstr_target_met")
        if met is not None:
            ratio = r["metrics"]["utility"]["tstr_over_trtr"]
            lines.append(f"{r['dataset']}: TSTR/TRTR {ratio:.3f} -> the issue's target (>= {TSTR_TARGET}) "
                         + ("met" if met else "NOT met"))
    return "\n".join(lines)


def write_markdown(path: Path, payload: dict) -> None:
    results = payload["results"]
    lines = ["# meddl class-conditional DCGAN: quality, privacy and utility of synthetic MedMNIST images", "",
             f"{describe(payload['environment'])}; {payload['environment']['date_utc']}.", "",
             "## Quality and TSTR", "", markdown_table(quality_rows(results), QUALITY_HEADER), "",
             "## Augmentation gain (test AUC)", "", markdown_table(augment_rows(results), AUGMENT_HEADER), ""]
    for extra in (target_line(results), failures(results)):
        if extra:
            lines += [extra, ""]
    lines += [NOTES, ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data_dir:
        sys.exit("gan.py: no data folder; pass --data-dir or set MEDDL_DATA_DIR")
    args.data_dir = Path(args.data_dir).expanduser()
    given = checkpoints(args.gan_checkpoint, args.datasets)
    env = environment()
    print(describe(env))
    payload = {"benchmark": "gan", "settings": arguments(args), "environment": env, "notes": NOTES, "results": []}
    json_path, md_path = args.output / "gan.json", args.output / "gan.md"
    for name in args.datasets:
        print(f"[{name}] " + ("evaluating " + str(given[name]) if name in given else "training the GAN") + " ...",
              flush=True)
        try:
            row = run_dataset(name, args, given.get(name))
        except Exception as error:  # record the failure and go on: one broken set should not void a long run
            row = {"dataset": name, "error": f"{type(error).__name__}: {error}"}
        print(f"[{name}] done" + (f" in {row['wall_time_s']:.0f} s" if "error" not in row else f": {row['error']}"),
              flush=True)
        payload["results"].append(row)
        write_json(json_path, payload)  # after every dataset, so a long run that dies keeps what it has
        write_markdown(md_path, payload)
    print()
    print(table(quality_rows(payload["results"]), QUALITY_HEADER))
    print()
    print(table(augment_rows(payload["results"]), AUGMENT_HEADER))
    print()
    for extra in (target_line(payload["results"]), failures(payload["results"])):
        if extra:
            print(extra + "\n")
    print(NOTES)
    print(f"\nwrote {json_path} and {md_path}")
    return 1 if any("error" in row for row in payload["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
