"""ONNX Runtime against eager PyTorch on the same model: batch-1 latency and large-batch throughput.

Both sides run the whole `Predictor.predict` path a server uses (uint8 (N, H, W, C) in, probabilities out), on the
same model: meddl's default fast-cnn at 28x28, freshly initialised (speed does not depend on the weights; pass
--checkpoint for a trained one), exported with `meddl.serve.export.export_onnx`. To be fair on a shared machine the
two backends take turns: each round times both, and the figures pool every round. Each thread setting is timed in
the same run: "default" leaves both libraries at their own choice (torch: one per core; ONNX Runtime: one per
physical core), "1" gives each a single intra-op thread, the fair and stable setting on a busy or shared machine.

    .venv/bin/python benchmarks/export.py                      # writes results/export.json
    .venv/bin/python benchmarks/export.py --rounds 3 --calls 100   # smoke test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, arguments, describe, environment, table, write_json

HEADER = ["backend", "threads", "batch-1 median ms", "batch-1 p99 ms", "batch-{b} img/s (median)", "img/s range"]


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="a trained meddl checkpoint (default: a fresh fast-cnn)")
    parser.add_argument("--channels", type=int, default=1, help="input channels of the fresh model (default 1)")
    parser.add_argument("--classes", type=int, default=2, help="classes of the fresh model (default 2, binary)")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds per backend (default 8)")
    parser.add_argument("--calls", type=int, default=200, help="timed batch-1 calls per round (default 200)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed batch-1 calls first (default 50)")
    parser.add_argument("--batch", type=int, default=256, help="throughput batch size (default 256)")
    parser.add_argument("--batches", type=int, default=6, help="timed large batches per round (default 6)")
    parser.add_argument("--threads", nargs="+", default=["default", "1"],
                        help="intra-op thread settings to time, each for both backends (default: default 1)")
    parser.add_argument("--output", type=Path, default=RESULTS / "export.json")
    return parser.parse_args(argv)


def fresh_checkpoint(folder: Path, channels: int, classes: int) -> Path:
    import torch

    from meddl.tasks.image.module import ImageClassifier

    torch.manual_seed(0)
    task = "binary" if classes == 2 else "multi-class"
    module = ImageClassifier("fast-cnn", task, [f"class{i}" for i in range(classes)], channels, 28, dataset="none")
    path = folder / "fresh-fast-cnn.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    return path


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def time_round(predictor, single, large, calls: int, batches: int) -> tuple[list[float], list[float]]:
    """Per-call batch-1 latencies (ms) and per-batch throughputs (images/s) for one round."""
    latencies, rates = [], []
    for _ in range(calls):
        start = time.perf_counter()
        predictor.predict(single)
        latencies.append((time.perf_counter() - start) * 1000)
    for _ in range(batches):
        start = time.perf_counter()
        predictor.predict(large)
        rates.append(len(large) / (time.perf_counter() - start))
    return latencies, rates


def measure(predictors: dict, single, large, args) -> dict:
    """Warm up, then alternate the backends for `args.rounds` rounds; pooled latency and throughput figures."""
    import numpy as np

    for predictor in predictors.values():
        for _ in range(args.warmup):
            predictor.predict(single)
        predictor.predict(large)
    pooled = {name: ([], []) for name in predictors}
    for round_index in range(args.rounds):
        for name, predictor in predictors.items():
            latencies, rates = time_round(predictor, single, large, args.calls, args.batches)
            pooled[name][0].extend(latencies)
            pooled[name][1].extend(rates)
        print(f"  round {round_index + 1}/{args.rounds}: " + ", ".join(
            f"{name} {np.median(pooled[name][0][-args.calls:]):.3f} ms" for name in predictors), flush=True)
    return {name: {
        "batch1_latency_ms": {"median": percentile(latencies, 50), "p99": percentile(latencies, 99),
                              "mean": float(np.mean(latencies)), "n_calls": len(latencies)},
        "throughput_images_per_s": {"median": percentile(rates, 50), "min": min(rates), "max": max(rates),
                                    "batch_size": args.batch, "n_batches": len(rates)},
    } for name, (latencies, rates) in pooled.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import numpy as np
    import onnxruntime as ort
    import torch

    from meddl.serve.export import export_onnx
    from meddl.serve.predictor import OnnxPredictor, TorchPredictor

    env = environment()
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = args.checkpoint or fresh_checkpoint(Path(scratch), args.channels, args.classes)
        start = time.perf_counter()
        exported = export_onnx(checkpoint, Path(scratch) / "model.onnx")
        export_seconds = time.perf_counter() - start
        predictors = {"pytorch (eager)": TorchPredictor(checkpoint), "onnxruntime": OnnxPredictor(exported.path)}
        card = exported.metadata
        size, channels = card["image_size"], card["in_channels"]
        rng = np.random.default_rng(0)
        single = rng.integers(0, 256, (1, size, size, channels), dtype=np.uint8)
        large = rng.integers(0, 256, (args.batch, size, size, channels), dtype=np.uint8)
        probs = [p.predict(large) for p in predictors.values()]
        agreement = float(np.abs(probs[0] - probs[1]).max())
        print(describe(env))
        print(f"model {card['model']} {size}x{size}x{channels}, {'given checkpoint' if args.checkpoint else 'fresh'}; "
              f"ORT providers {predictors['onnxruntime'].session.get_providers()}; export + verification "
              f"{export_seconds:.1f} s (max abs diff {exported.max_abs_diff:.1e}); {args.rounds} rounds x "
              f"({args.calls} batch-1 calls + {args.batches} batches of {args.batch}) per backend\n", flush=True)
        default_threads = torch.get_num_threads()
        results = {}
        for threads in args.threads:
            n = default_threads if threads == "default" else int(threads)
            torch.set_num_threads(n)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 0 if threads == "default" else n
            predictors["onnxruntime"].session = ort.InferenceSession(
                str(exported.path), options, providers=predictors["onnxruntime"].session.get_providers())
            print(f"threads: {threads} (torch {n}, onnxruntime {options.intra_op_num_threads or 'its default'})")
            results[threads] = measure(predictors, single, large, args)
        torch.set_num_threads(default_threads)

    speedup, rows = {}, []
    for threads, by_backend in results.items():
        torch_row, ort_row = by_backend["pytorch (eager)"], by_backend["onnxruntime"]
        speedup[threads] = {
            "batch1_median_latency": torch_row["batch1_latency_ms"]["median"] / ort_row["batch1_latency_ms"]["median"],
            "throughput": ort_row["throughput_images_per_s"]["median"] / torch_row["throughput_images_per_s"]["median"],
        }
        rows += [[name, threads, f"{r['batch1_latency_ms']['median']:.3f}", f"{r['batch1_latency_ms']['p99']:.3f}",
                  f"{r['throughput_images_per_s']['median']:.0f}",
                  f"{r['throughput_images_per_s']['min']:.0f}-{r['throughput_images_per_s']['max']:.0f}"]
                 for name, r in by_backend.items()]
    print()
    print(table(rows, [h.format(b=args.batch) for h in HEADER]))
    for threads, ratio in speedup.items():
        print(f"threads {threads}: ONNX Runtime speed-up: batch-1 median latency "
              f"x{ratio['batch1_median_latency']:.2f}, "
              f"batch-{args.batch} throughput x{ratio['throughput']:.2f}")
    print(f"backends agree to {agreement:.1e} (max abs probability difference on the batch-{args.batch} input)")
    payload = {
        "environment": {**env, "onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers(),
                        "torch_threads_at_end": torch.get_num_threads()},
        "model": {"name": card["model"], "image_size": size, "in_channels": channels, "task": card["task"],
                  "weights": str(args.checkpoint) if args.checkpoint else "fresh (seed 0)"},
        "method": "Predictor.predict on uint8 NHWC (preprocessing + model + probabilities); backends alternate in "
                  "rounds after warm-up; each thread setting applied to both backends",
        "config": arguments(args),
        "export_seconds": round(export_seconds, 2),
        "export_max_abs_diff": exported.max_abs_diff,
        "backend_agreement_max_abs_diff": agreement,
        "results": results,  # {threads: {backend: figures}}
        "speedup_onnxruntime_over_pytorch": speedup,
    }
    write_json(args.output, payload)
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
