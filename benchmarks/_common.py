"""What both benchmark scripts share: where results go, a plain-text table, and a record of the machine."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results"


def mean_sd(values: list[float]) -> dict:
    """{"mean", "sd" (sample; 0 for one value), "values"} of one figure over the seeds."""
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def table(rows: list[list[str]], header: list[str]) -> str:
    """Columns padded to their widest cell, a rule under the header."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _git_commit() -> str | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCHMARKS, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "../src"], cwd=BENCHMARKS, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+uncommitted-src-changes" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Versions, commit, CPU/GPU and thread counts: what a reader needs to compare two result files."""
    import lightning
    import torch

    import meddl

    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "meddl": meddl.__version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_native_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def describe(env: dict) -> str:
    gpu = f"; GPU {env['cuda']}" if env["cuda"] else "; no GPU"
    return (f"meddl {env['meddl']} ({env['git_commit'] or 'no git'}), torch {env['torch']}, lightning "
            f"{env['lightning']}; CPU {env['cpu']} ({env['cpu_count']} cores, torch threads "
            f"{env['torch_threads']}, native bf16 {'yes' if env['cpu_native_bf16'] else 'no'}){gpu}")


def arguments(args) -> dict:
    """The parsed command-line arguments, JSON-ready (paths as strings), to record how a run was made."""
    return {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()}


def write_json(path: Path, payload: dict) -> None:
    """Write through a temporary file so an interrupted run never leaves half a JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(temporary, path)


def report_results(name: str, title: str, header: list[str], cells: list[list[str]], payload: dict) -> None:
    """Print the title and table, and write results/<name>.json (payload) and results/<name>.md (title + table)."""
    print(title)
    print(table(cells, header))
    write_json(RESULTS / f"{name}.json", payload)
    (RESULTS / f"{name}.md").write_text(f"{title}\n\n{markdown_table(cells, header)}\n")
