"""HTTP serving load: requests/second and p50/p99 latency of `meddl serve` for 28x28 PNG uploads to /v1/predict,
ONNX Runtime backend against eager PyTorch, measured in one run.

The script starts one `meddl serve CHECKPOINT --backend B` process per backend on 127.0.0.1 (both at once), waits
for /healthz, and drives them from this process with keep-alive HTTP clients (one thread each). For each
concurrency level it runs --rounds rounds, alternating which backend goes first, each a short untimed warm-up and
then its share of --requests requests or --max-seconds seconds, whichever ends first; a shared machine's drifting
background load thus falls on both backends alike. Each request uploads one of 64 real BreastMNIST test images
(PNG, 28x28) and is timed from send to parsed JSON. Only loopback traffic; the servers are stopped at the end
even if a step fails.

    .venv/bin/python benchmarks/serve.py                       # trains a 1-epoch BreastMNIST model to serve
    .venv/bin/python benchmarks/serve.py --checkpoint runs/demo/checkpoints/best.ckpt --concurrency 1 8
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, arguments, describe, environment, table, write_json

BACKENDS = ("onnx", "torch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="model to serve (default: train BreastMNIST for 1 epoch)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 4], help="client threads (default: 1 4)")
    parser.add_argument("--requests", type=int, default=800,
                        help="timed requests per backend and level at most, over all rounds (default 800)")
    parser.add_argument("--max-seconds", type=float, default=20,
                        help="timed seconds per backend and level at most, over all rounds (default 20)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per level (default 4)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests before each round (default 20)")
    parser.add_argument("--data-dir", default=os.environ.get("MEDDL_DATA_DIR"), help="folder with breastmnist.npz")
    parser.add_argument("--output", type=Path, default=RESULTS / "serve.json")
    return parser.parse_args(argv)


def sample_pngs(data_dir: str | None, n: int = 64) -> list[bytes]:
    """Real BreastMNIST test images as PNG files (noise if the data is absent)."""
    from PIL import Image

    path = Path(data_dir or "") / "breastmnist.npz"
    if path.is_file():
        with np.load(path) as archive:
            images = archive["test_images"][:n]
    else:
        images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    pngs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return pngs


def train_checkpoint(folder: Path, data_dir: str | None) -> Path:
    from meddl.api import train

    print("training a 1-epoch BreastMNIST model to serve ...", flush=True)
    return Path(train("breastmnist", folder / "run", data_dir=data_dir, epochs=1, bootstrap=50, progress=False)
                .checkpoint)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(checkpoint: Path, backend: str, key: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "meddl.cli", "serve", str(checkpoint), "--backend", backend,
               "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               env={**os.environ, "MEDDL_API_KEY": key})
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"meddl serve exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"meddl serve did not answer /healthz within 180 s:\n{log.read_text()[-2000:]}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def drive(url: str, key: str, pngs: list[bytes], threads: int, n_requests: int, max_seconds: float,
          warmup: int) -> dict:
    """Send uploads from `threads` keep-alive clients: a warm-up, then up to `n_requests` timed requests or
    `max_seconds`. Returns the timed latencies (seconds), the errors and the timed wall time."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    state = {"next": 0, "budget": 0, "stop_at": float("inf"), "timed": False}

    def worker(client: httpx.Client) -> None:
        while True:
            with lock:
                index, state["next"] = state["next"], state["next"] + 1
                if index >= state["budget"] or time.perf_counter() > state["stop_at"]:
                    return
            files = {"file": (f"{index}.png", pngs[index % len(pngs)], "image/png")}
            start = time.perf_counter()
            try:
                response = client.post(f"{url}/v1/predict", files=files)
                ok = response.status_code == 200 and "probabilities" in response.json()
                problem = None if ok else f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
            elapsed = time.perf_counter() - start
            if state["timed"]:
                with lock:
                    (errors.append(problem) if problem else latencies.append(elapsed))

    clients = [httpx.Client(headers={"X-API-Key": key}, timeout=30) for _ in range(threads)]
    try:
        for timed, budget in ((False, warmup), (True, n_requests)):
            state.update(next=0, budget=budget, timed=timed,
                         stop_at=time.perf_counter() + max_seconds if timed else float("inf"))
            start = time.perf_counter()
            pool = [threading.Thread(target=worker, args=(client,)) for client in clients]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            wall = time.perf_counter() - start
    finally:
        for client in clients:
            client.close()
    return {"latencies": latencies, "errors": errors, "wall": wall}


def summarise(backend: str, threads: int, runs: list[dict]) -> dict:
    """Pooled over the rounds: requests/s = timed requests / timed wall time; latency percentiles in ms."""
    ms = np.array([x for run in runs for x in run["latencies"]]) * 1000
    errors = [e for run in runs for e in run["errors"]]
    wall = sum(run["wall"] for run in runs)
    pick = lambda q: round(float(np.percentile(ms, q)), 2) if len(ms) else None  # noqa: E731
    return {"backend": backend, "concurrency": threads, "rounds": len(runs), "requests": len(ms),
            "errors": len(errors), "first_error": errors[0] if errors else None, "wall_s": round(wall, 3),
            "requests_per_s": round(len(ms) / wall, 1) if wall else None, "p50_ms": pick(50), "p99_ms": pick(99),
            "mean_ms": round(float(ms.mean()), 2) if len(ms) else None,
            "per_round_requests_per_s": [round(len(r["latencies"]) / r["wall"], 1) for r in runs if r["wall"]]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    print(describe(env), flush=True)
    pngs = sample_pngs(args.data_dir)
    key = secrets.token_urlsafe(24)
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="meddl-serve-bench-") as folder:
        checkpoint = args.checkpoint or train_checkpoint(Path(folder), args.data_dir)
        servers = {}
        try:
            for backend in args.backends:  # both servers up at once, so rounds can alternate between them
                servers[backend] = start_server(checkpoint, backend, key, Path(folder) / f"server-{backend}.log")
            per_round = max(1, args.requests // args.rounds)
            for threads in args.concurrency:
                runs: dict[str, list[dict]] = {backend: [] for backend in args.backends}
                for round_ in range(args.rounds):
                    # Alternate the order each round so that drifting background load hits both backends alike.
                    order = args.backends if round_ % 2 == 0 else args.backends[::-1]
                    for backend in order:
                        runs[backend].append(drive(servers[backend][1], key, pngs, threads, per_round,
                                                   args.max_seconds / args.rounds, args.warmup))
                for backend in args.backends:
                    result = summarise(backend, threads, runs[backend])
                    results.append(result)
                    rows.append([backend, threads, result["requests"], result["errors"], result["requests_per_s"],
                                 result["p50_ms"], result["p99_ms"]])
                    print(f"{backend} x{threads}: {result['requests_per_s']} req/s (rounds "
                          f"{result['per_round_requests_per_s']}), p50 {result['p50_ms']} ms, p99 {result['p99_ms']} "
                          f"ms, {result['errors']} errors", flush=True)
        finally:
            for process, _ in servers.values():
                stop_server(process)
    ratios = {}
    for threads in args.concurrency:
        by = {r["backend"]: r["requests_per_s"] for r in results if r["concurrency"] == threads}
        if by.get("onnx") and by.get("torch"):
            ratios[str(threads)] = round(by["onnx"] / by["torch"], 2)
    print()
    print(table([[str(cell) for cell in row] for row in rows],
                ["backend", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms"]))
    if ratios:
        print("onnx/torch requests per second: " + ", ".join(f"{k} client(s) {v}" for k, v in ratios.items()))
    payload = {"environment": env, "checkpoint": str(args.checkpoint) if args.checkpoint else "breastmnist, 1 epoch",
               "image": "28x28 grey PNG (BreastMNIST test images)", "endpoint": "/v1/predict",
               "config": arguments(args),
               "results": results, "onnx_over_torch_rps": ratios}
    write_json(args.output, payload)
    print(f"\nwritten: {args.output}")
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
