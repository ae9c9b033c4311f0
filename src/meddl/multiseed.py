"""Several seeds of one configuration: the per-seed figures and their mean ± sd, as MedMNIST v2 reports results.

A single run's test AUC moves by a point or more with the seed on the small MedMNIST sets; a difference smaller
than the seed-to-seed spread is not a difference. Each seed trains into its own `seed-N/` folder (a complete run
with its own report); the summary `metrics.json` and `report.html` sit above them.
"""

from __future__ import annotations

import html
import statistics
from pathlib import Path
from typing import Callable

from meddl.atomic import write_json_atomic, write_text_atomic
from meddl.errors import ConfigError

# figures summarised across seeds where a run reports them (image, ECG and text tasks; perplexity for LMs)
SUMMARY_KEYS = ("auc", "acc", "balanced_accuracy", "macro_f1", "weighted_f1", "ece", "perplexity")


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; each seed once, at least two."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: expected at least two different seeds, e.g. 0,1,2")
    return seeds


def summarise(per_seed: list[dict]) -> dict:
    """Mean and sample standard deviation of every summary figure present in all runs' `test` metrics."""
    mean, sd = {}, {}
    for key in SUMMARY_KEYS:
        values = [run["test"].get(key) for run in per_seed]
        if values and all(isinstance(v, (int, float)) for v in values):
            mean[key] = statistics.fmean(values)
            sd[key] = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": mean, "sd": sd}


def train_seeds(train: Callable, seeds: list[int], output_dir: Path, **kwargs) -> dict:
    """Run `train(output_dir=output_dir / f"seed-{s}", seed=s, **kwargs)` for every seed and write the summary
    metrics.json and report.html into `output_dir`. Returns the summary."""
    output_dir = Path(output_dir)
    runs = []
    for seed in seeds:
        result = train(output_dir=output_dir / f"seed-{seed}", seed=seed, **kwargs)
        test = {key: result.metrics["test"].get(key) for key in SUMMARY_KEYS if key in result.metrics["test"]}
        runs.append({"seed": seed, "test": test, "ci": result.metrics["test"].get("ci", {}),
                     "best_epoch": result.metrics.get("best_epoch"), "output_dir": f"seed-{seed}",
                     "wall_time_s": result.metrics.get("wall_time_s")})
    first = train_result_fields(output_dir / f"seed-{seeds[0]}")
    summary = {**first, "seeds": seeds, "per_seed": runs, **summarise(runs)}
    write_json_atomic(output_dir / "metrics.json", summary)
    write_text_atomic(output_dir / "report.html", render_report(summary))
    return summary


def train_result_fields(run_dir: Path) -> dict:
    """Dataset, model, task and config shared by every seed (read from the first seed's metrics.json)."""
    import json

    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = {k: v for k, v in metrics.get("config", {}).items() if k != "seed"}
    return {key: metrics.get(key) for key in ("dataset", "model", "task", "labels")} | {"config": config}


def render_report(summary: dict) -> str:
    """A one-page summary: mean ± sd per figure, then each seed's figures with a link to its own report."""
    keys = list(summary["mean"])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    mean_row = "".join(f"<td>{summary['mean'][k]:.4f} ± {summary['sd'][k]:.4f}</td>" for k in keys)
    rows = "".join(
        f"<tr><td><a href='{run['output_dir']}/report.html'>seed {run['seed']}</a></td>"
        + "".join(f"<td>{run['test'][k]:.4f}</td>" for k in keys) + "</tr>"
        for run in summary["per_seed"]
    )
    title = html.escape(f"{summary.get('dataset')} · {summary.get('model')} · {len(summary['seeds'])} seeds")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24}}
table{{border-collapse:collapse}}td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>{title}</h1>
<p>The same configuration trained once per seed; test figures as mean ± sample standard deviation.</p>
<table><tr><th></th>{head}</tr><tr><th>mean ± sd</th>{mean_row}</tr>{rows}</table>
</body></html>
"""
