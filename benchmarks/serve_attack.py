"""The server under hostile input: a deflated-DICOM bomb, 8 parallel 40-megapixel 16-bit PNGs, 100 Grad-CAM calls
(then 200 more, to tell warm-up from a leak) and 200 half-open sockets against one `meddl serve` on 127.0.0.1, with the server's resident memory (sampled every
50 ms, and its peak), the 5xx answers and /healthz latency during each attack.

Bounded and loopback only: every attack has a fixed count, every wait a deadline, and the server is stopped at the
end even if a step fails. It reuses `serve.py`'s server start and stop.

    .venv/bin/python benchmarks/serve_attack.py       # trains a 1-epoch BreastMNIST model to serve
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, arguments, describe, environment, table, write_json
from serve import sample_pngs, start_server, stop_server, train_checkpoint

HALF_OPEN = 200
HOLD_S = 14.0  # longer than the server's 10 s header timeout


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="model to serve (default: train BreastMNIST for 1 epoch)")
    parser.add_argument("--data-dir", default=os.environ.get("MEDDL_DATA_DIR"), help="folder with breastmnist.npz")
    parser.add_argument("--output", type=Path, default=RESULTS / "serve_attack.json")
    return parser.parse_args(argv)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Watch:
    """Samples the server's RSS every 50 ms and /healthz latency every 200 ms while an attack runs."""

    def __init__(self, pid: int, url: str):
        self.pid, self.url, self.rss, self.health, self.health_errors = pid, url, [], [], 0
        self._stop = threading.Event()

    def __enter__(self):
        self.threads = [threading.Thread(target=self._memory), threading.Thread(target=self._healthz)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self.threads:
            thread.join()

    def _memory(self):
        while not self._stop.is_set():
            self.rss.append(rss_mb(self.pid))
            time.sleep(0.05)

    def _healthz(self):
        import httpx

        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    ok = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.health.append((time.perf_counter() - start) * 1000)
                else:
                    self.health_errors += 1
                time.sleep(0.2)

    def summary(self) -> dict:
        health = np.array(self.health) if self.health else np.array([np.nan])
        return {"rss_max_mb": round(max(self.rss), 1), "healthz_ok": len(self.health),
                "healthz_failed": self.health_errors, "healthz_p50_ms": round(float(np.nanpercentile(health, 50)), 1),
                "healthz_max_ms": round(float(np.nanmax(health)), 1)}


def deflated_bomb() -> bytes:
    """A deflated DICOM of 12000 x 12000 16-bit zeros: 288 MB inflated, well under 1 MB on the wire."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, SecondaryCaptureImageStorage

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, "1.2.3.4"
    ds.set_pixel_data(np.zeros((12000, 12000), dtype=np.uint16), "MONOCHROME2", 16)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def big_png() -> bytes:
    """A 6300 x 6300 (39.7 MP, under the 40 MP limit) 16-bit grey PNG of a smooth ramp."""
    from PIL import Image

    ramp = (np.arange(6300 * 6300, dtype=np.uint32) % 65536).astype(np.uint16).reshape(6300, 6300) // 64
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    return buffer.getvalue()


def post_all(url: str, key: str, bodies: list[tuple[str, bytes]], path: str, parallel: int) -> list[int]:
    import httpx

    statuses: list[int] = []
    lock = threading.Lock()

    def send(name: str, body: bytes) -> None:
        try:
            with httpx.Client(headers={"X-API-Key": key}, timeout=120) as client:
                status = client.post(f"{url}{path}", files={"file": (name, body)}).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            statuses.append(status)

    for start in range(0, len(bodies), parallel):
        threads = [threading.Thread(target=send, args=item) for item in bodies[start:start + parallel]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return statuses


def half_open(url: str) -> list[int]:
    port = int(url.rsplit(":", 1)[1])
    sockets = []
    for _ in range(HALF_OPEN):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    time.sleep(HOLD_S)
    closed = 0
    for sock in sockets:
        sock.settimeout(0.1)
        try:
            closed += sock.recv(1) == b""
        except OSError:
            pass
        sock.close()
    return [len(sockets), closed]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment()
    print(describe(env), flush=True)
    key = secrets.token_urlsafe(24)
    small = sample_pngs(args.data_dir, 1)[0]
    print("building the attack files ...", flush=True)
    bomb, png = deflated_bomb(), big_png()
    results = []
    with tempfile.TemporaryDirectory(prefix="meddl-attack-") as folder:
        checkpoint = args.checkpoint or train_checkpoint(Path(folder), args.data_dir)
        process, url = start_server(checkpoint, "onnx", key, Path(folder) / "server.log")
        try:
            attacks = (
                ("deflated DICOM bomb (%d KB -> 288 MB)" % (len(bomb) >> 10),
                 lambda: post_all(url, key, [("bomb.dcm", bomb)], "/v1/predict", 1)),
                ("8 parallel 40-MP 16-bit PNGs (%d KB each)" % (len(png) >> 10),
                 lambda: post_all(url, key, [(f"{i}.png", png) for i in range(8)], "/v1/predict", 8)),
                ("100 Grad-CAM calls", lambda: post_all(url, key, [(f"{i}.png", small) for i in range(100)],
                                                        "/v1/explain?method=gradcam", 1)),
                # the first calls warm the allocator and autograd up; a leak shows as growth past them
                ("200 more Grad-CAM calls", lambda: post_all(url, key, [(f"{i}.png", small) for i in range(200)],
                                                             "/v1/explain?method=gradcam", 1)),
                (f"{HALF_OPEN} half-open sockets held {HOLD_S:g} s", lambda: half_open(url)),
            )
            for name, attack in attacks:
                before = rss_mb(process.pid)
                with Watch(process.pid, url) as watch:
                    outcome = attack()
                row = {"attack": name, "rss_before_mb": round(before, 1), "rss_after_mb": round(rss_mb(process.pid), 1),
                       **watch.summary()}
                if name.endswith("s held %g s" % HOLD_S):
                    row.update(sockets_opened=outcome[0], closed_by_server=outcome[1], http_5xx=None)
                else:
                    row.update(statuses=sorted(set(outcome)), http_5xx=sum(s >= 500 for s in outcome),
                               failed_connections=outcome.count(0))
                results.append(row)
                print(row, flush=True)
            peak = rss_mb(process.pid, "VmHWM")
        finally:
            stop_server(process)
    rows = [[r["attack"], r["rss_before_mb"], r["rss_max_mb"], r["rss_after_mb"], r.get("http_5xx"),
             r["healthz_p50_ms"], r["healthz_max_ms"], r["healthz_failed"]] for r in results]
    print()
    print(table([[str(c) for c in row] for row in rows], ["attack", "RSS before MB", "RSS max MB", "RSS after MB",
                                                          "5xx", "healthz p50 ms", "healthz max ms", "healthz failed"]))
    print(f"server peak RSS over the whole run (VmHWM): {peak:.0f} MB")
    write_json(args.output, {"environment": env, "config": arguments(args), "results": results,
                             "server_peak_rss_mb": round(peak, 1)})
    print(f"\nwritten: {args.output}")
    return 0 if all(not r.get("http_5xx") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
