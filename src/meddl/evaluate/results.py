"""What a training or evaluation run produced, the same for every task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunResult:
    """What a training or evaluation run produced, for scripts and for the CLI to print: `metrics` is the content
    of metrics.json, `confidence_intervals` those of the scored split, `report` the HTML page (None: none written)."""

    metrics: dict
    confidence_intervals: dict
    checkpoint: Path
    report: Path | None
    output_dir: Path
