"""Sequence benchmark: meddl's ECG, PubMedQA, section and language models next to published figures and to simple
baselines computed in the same run on the same splits.

- ECG (`mitdb`, inter-patient DS1 -> DS2): per-class Se/+P and macro-F1 over N/S/V/F vs de Chazal et al. 2004 and
  later inter-patient work, and a logistic regression on RR features + downsampled beat; beats/s at inference.
- PubMedQA (reasoning-required, official 500-question test set): accuracy and macro-F1 vs the paper's majority
  baseline, its best model and human performance, and a TF-IDF + logistic-regression baseline run here.
- Section classification (`pubmedqa-sections`): vs the majority class and the same TF-IDF baseline.
- Language model (`pubmedqa-lm`): test perplexity vs an interpolated Kneser-Ney trigram on the same token ids.

Each model is trained with `meddl.api.train` with its dataset's defaults, once per seed (run folders in
benchmarks/results/sequences/<dataset>/seed-N/); the baselines are refitted per seed too (the seed draws the
train/val division of the training half). Tables give the mean and sample sd over the seeds; every per-seed figure
and interval is in benchmarks/results/sequences.json, the tables also in sequences.md.

    .venv/bin/python benchmarks/sequences.py --data-dir /path/with/mitdb_and_pubmedqa --seeds 0,1,2
    .venv/bin/python benchmarks/sequences.py --only qa,sections --epochs 1       # a smoke test (seed 0)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import yaml

from _common import BENCHMARKS, RESULTS, arguments, describe, environment, mean_sd, write_json
from sequence_tables import NOTES, print_tables, write_markdown

PUBLISHED = BENCHMARKS / "sequences_published.yaml"
TASKS = {"ecg": "mitdb", "qa": "pubmedqa", "sections": "pubmedqa-sections", "lm": "pubmedqa-lm"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("MEDDL_DATA_DIR"),
                        help="folder holding mitdb/ and pubmedqa/ (default: $MEDDL_DATA_DIR, else meddl's download "
                             "cache)")
    parser.add_argument("--only", default=",".join(TASKS),
                        help=f"comma-separated subset of {', '.join(TASKS)} (default: all)")
    parser.add_argument("--epochs", type=int, help="training epochs for every model (default: each preset's)")
    parser.add_argument("--batch-size", type=int, help="training batch size for every model (default: each preset's)")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated training and baseline seeds, e.g. 0,1,2 (default 0)")
    parser.add_argument("--batch1-beats", type=int, default=2000,
                        help="DS2 beats timed one at a time (default 2000; batch 1024 times all of DS2)")
    parser.add_argument("--timing-seconds", type=float, default=60.0,
                        help="stop each timing (batch 1024, batch 1) after this many seconds (default 60)")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="folder for sequences.json/.md and the runs (default: benchmarks/results)")
    args = parser.parse_args(argv)
    args.only = [task.strip() for task in args.only.split(",") if task.strip()]
    try:
        args.seeds = [int(part) for part in args.seeds.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2")
    if not args.seeds or len(set(args.seeds)) != len(args.seeds):
        parser.error("--seeds: expected distinct integers, e.g. 0,1,2")
    unknown = sorted(set(args.only) - set(TASKS))
    if unknown:
        parser.error(f"--only: unknown task(s) {', '.join(unknown)}; expected some of {', '.join(TASKS)}")
    return args


def train_run(dataset: str, args: argparse.Namespace, seed: int):
    """`meddl.api.train` on `dataset` with its defaults and `seed`, timed; returns (RunResult, wall seconds)."""
    from meddl.api import train

    start = time.perf_counter()
    result = train(dataset, output_dir=args.output / "sequences" / dataset / f"seed-{seed}", data_dir=args.data_dir,
                   overwrite=True, progress=False, epochs=args.epochs, batch_size=args.batch_size, seed=seed)
    return result, time.perf_counter() - start


def load_splits(dataset: str, args: argparse.Namespace, config: dict, seed: int, **extra_options):
    """The dataset exactly as the run loaded it (same seed and loader options), plus `extra_options`."""
    from meddl.data import load_dataset

    options = {**(config.get("data_options") or {}), **extra_options}
    return load_dataset(dataset, data_dir=args.data_dir, seed=config.get("seed", seed), options=options)


SUMMARY_FIGURES = ("acc", "macro_f1", "weighted_f1", "macro_f1_nsv", "perplexity", "cross_entropy")
PER_CLASS_FIGURES = ("sensitivity", "ppv", "f1")


def summarise_scores(tests: list[dict]) -> dict:
    """Mean and sd over seeds of each summary figure and each class's Se / +P / F1 that every seed reports."""
    summary = {key: mean_sd([t[key] for t in tests]) for key in SUMMARY_FIGURES
               if all(isinstance(t.get(key), (int, float)) for t in tests)}
    classes = [name for name in tests[0].get("per_class", {}) if all(name in t.get("per_class", {}) for t in tests)]
    summary["per_class"] = {
        name: {figure: mean_sd([t["per_class"][name][figure] for t in tests]) for figure in PER_CLASS_FIGURES
               if all(t["per_class"][name].get(figure) is not None for t in tests)}
        for name in classes}
    summary["seeds"] = len(tests)
    return summary


def summarise_seeds(rows: list[dict]) -> dict:
    """Per method of a task's per-seed rows (meddl and each baseline): the figures' mean and sd over the seeds,
    and meddl's wall time per seed."""
    summary = {}
    for method, first in rows[0].items():
        if method == "meddl":
            summary[method] = {**summarise_scores([row[method]["test"] for row in rows]),
                               "model": first["model"], "wall_time_s": [row[method]["wall_time_s"] for row in rows]}
        elif isinstance(first, dict) and ("macro_f1" in first or "perplexity" in first):
            summary[method] = summarise_scores([row[method] for row in rows])
            if "predicts" in first:
                summary[method]["predicts"] = first["predicts"]
    return summary


def nsv_macro_f1(test: dict) -> float | None:
    """Macro-F1 over N, S and V only, so that studies without the fusion class can be compared."""
    f1s = [test["per_class"].get(name, {}).get("f1") for name in ("N", "S", "V")]
    return None if any(f is None for f in f1s) else sum(f1s) / 3


def meddl_summary(result, wall: float) -> dict:
    metrics = result.metrics
    return {"model": metrics["model"], "test": metrics["test"],
            "epochs_run": metrics.get("epochs_run"), "best_epoch": metrics.get("best_epoch"),
            "split_sizes": metrics.get("split_sizes"), "wall_time_s": round(wall, 1),
            "checkpoint": str(result.checkpoint), "run_dir": str(result.output_dir), "config": metrics.get("config")}


def time_inference(module, signals, features, batch1_beats: int, max_seconds: float) -> dict:
    """Beats/s of the ECG model's forward pass (+ argmax; the rhythm gate included) over the DS2 test beats, at
    batch 1024 (all beats) and batch 1 (the first `batch1_beats`), each after three warm-up batches and stopped early
    after `max_seconds`; torch's default thread count is kept and recorded."""
    import torch

    x = torch.from_numpy(signals)
    f = None if features is None else torch.from_numpy(features)
    rows = []
    with torch.inference_mode():
        for batch in (1024, 1):
            n = len(x) if batch > 1 else min(len(x), batch1_beats)

            def run(first: int, size: int) -> None:
                part = None if f is None else f[first:first + size]
                module({"signals": x[first:first + size], "features": part}).argmax(dim=1)

            for i in range(3):
                run(i * batch, batch)
            done, start = 0, time.perf_counter()
            while done < n and time.perf_counter() - start < max_seconds:
                size = min(batch, n - done)
                run(done, size)
                done += size
            seconds = time.perf_counter() - start
            rows.append({"batch_size": batch, "beats": done, "seconds": round(seconds, 3),
                         "beats_per_s": round(done / seconds, 1)})
    return {"torch_threads": torch.get_num_threads(), "runs": rows}


def run_ecg(args: argparse.Namespace, seed: int) -> dict:
    from sequence_baselines import ecg_logreg

    from meddl.errors import ConfigError
    from meddl.tasks.sequence.module import scored_labels

    result, wall = train_run(TASKS["ecg"], args, seed)
    row = {"meddl": meddl_summary(result, wall)}
    row["meddl"]["test"]["macro_f1_nsv"] = nsv_macro_f1(row["meddl"]["test"])
    config = result.metrics.get("config") or {}
    try:  # the baseline's RR features; the same split (and window) as the run
        data = load_splits(TASKS["ecg"], args, config, seed, rr_features=True)
    except ConfigError:
        data = load_splits(TASKS["ecg"], args, config, seed)
    labels = list(data.info.labels)
    start = time.perf_counter()
    row["logreg"] = ecg_logreg(data.signals, data.labels, labels, extra=data.features or None,
                               scored=scored_labels("ecg", labels), groups=data.groups["test"], seed=seed)
    row["logreg"]["seconds"] = round(time.perf_counter() - start, 1)
    row["logreg"]["features"] = list(data.feature_names)
    row["logreg"]["macro_f1_nsv"] = nsv_macro_f1(row["logreg"])
    if seed == args.seeds[0]:  # one model's inference rate is enough; seeds differ in weights, not in cost
        row["timing"] = ecg_timing(result.checkpoint, data, args, config, seed)
    return row


def ecg_timing(checkpoint, data, args: argparse.Namespace, config: dict, seed: int) -> dict:
    """Beats/s of the trained ECG model on the DS2 beats, with the features it reads."""
    from meddl.tasks import load_model

    _, module = load_model(checkpoint, expect=("sequence",), purpose="the ECG inference timing")
    uses_features = module.hparams.model_kwargs.get("n_features", 0) > 0
    if uses_features and not data.features:
        data = load_splits(TASKS["ecg"], args, config, seed)
    return time_inference(module, data.signals["test"], data.features.get("test") if uses_features else None,
                          args.batch1_beats, args.timing_seconds)


def run_text(task: str, args: argparse.Namespace, seed: int) -> dict:
    """meddl's model, the majority class and TF-IDF + logistic regression (sections: with and without the position
    features meddl's passage-sequence model sees) on the same split."""
    from sequence_baselines import majority_scores, tfidf_logreg, tfidf_position_logreg

    result, wall = train_run(TASKS[task], args, seed)
    row = {"meddl": meddl_summary(result, wall)}
    data = load_splits(TASKS[task], args, result.metrics.get("config") or {}, seed)
    labels, groups = list(data.info.labels), data.groups.get("test")
    row["majority"] = majority_scores(data.labels["train"], data.labels["test"], labels, groups=groups)
    start = time.perf_counter()
    if task == "sections":
        both = tfidf_position_logreg(data, seed=seed)
        row["tfidf_logreg"], row["tfidf_position"] = both["tfidf"], both["tfidf_position"]
    else:
        row["tfidf_logreg"] = tfidf_logreg(data.texts, data.labels, labels, questions=data.questions or None,
                                           groups=groups, seed=seed)
    row["tfidf_logreg"]["seconds"] = round(time.perf_counter() - start, 1)
    return row


def run_lm(args: argparse.Namespace, seed: int) -> dict:
    """The LSTM LM and a Kneser-Ney trigram on the same token ids: the run's tokenizer (built from the training
    split the way the trainer builds it, and checked against the checkpoint's), the same `bos text eos` streams."""
    from sequence_baselines import KneserNeyLM

    from meddl.data.batching import build_tokenizer, token_stream
    from meddl.tasks import load_model

    result, wall = train_run(TASKS["lm"], args, seed)
    row = {"meddl": meddl_summary(result, wall)}
    data = load_splits(TASKS["lm"], args, result.metrics.get("config") or {}, seed)
    tokenizer = build_tokenizer(data)
    stored = load_model(result.checkpoint, expect=("language-model",))[1].hparams.tokenizer
    if stored != tokenizer.to_dict():
        raise RuntimeError("the rebuilt tokenizer differs from the checkpoint's: the baseline would see other tokens")
    start = time.perf_counter()
    train, test = (token_stream(tokenizer, data.texts[s]).tolist() for s in ("train", "test"))
    lm = KneserNeyLM(tokenizer.vocab_size, order=3).fit([train])
    cross_entropy, tokens = lm.cross_entropy([test])
    row["kneser_ney"] = {"order": 3, "perplexity": math.exp(cross_entropy),
                         "cross_entropy": cross_entropy, "tokens": tokens, "train_tokens": len(train) - 1,
                         "vocab_size": tokenizer.vocab_size, "discounts": [round(d, 3) for d in lm._discount],
                         "seconds": round(time.perf_counter() - start, 1)}
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    published = yaml.safe_load(PUBLISHED.read_text())
    env = environment()
    print(describe(env))
    print(f"tasks: {', '.join(args.only)}; seeds {', '.join(map(str, args.seeds))}; data "
          f"{args.data_dir or 'meddl download cache'}; epochs {args.epochs or 'preset default'}\n")
    payload = {"benchmark": "sequences", "settings": arguments(args), "environment": env, "published": published,
               "notes": NOTES, "results": {}}
    json_path, md_path = args.output / "sequences.json", args.output / "sequences.md"
    runners = {"ecg": run_ecg, "qa": lambda a, s: run_text("qa", a, s),
               "sections": lambda a, s: run_text("sections", a, s), "lm": run_lm}
    for task in args.only:
        print(f"[{task}] {TASKS[task]}: training and baselines, seeds {args.seeds} ...", flush=True)
        start = time.perf_counter()
        try:
            rows = [runners[task](args, seed) for seed in args.seeds]
            payload["results"][task] = {"per_seed": dict(zip(map(str, args.seeds), rows)),
                                        "summary": summarise_seeds(rows)}
        except Exception as error:  # record the failure and go on: one broken task should not void a long run
            payload["results"][task] = {"error": f"{type(error).__name__}: {error}"}
        print(f"[{task}] done in {time.perf_counter() - start:.0f} s"
              + (f": {payload['results'][task]['error']}" if "error" in payload["results"][task] else ""), flush=True)
        write_json(json_path, payload)  # after every task, so a long run that dies keeps what it has
        write_markdown(md_path, payload)
    print()
    print_tables(payload)
    print(f"\nwrote {json_path} and {md_path}")
    return 1 if any("error" in row for row in payload["results"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
