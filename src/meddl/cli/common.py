"""What several verbs share: tables for the terminal, `--option KEY=VALUE` pairs, device forms, result lines."""

from __future__ import annotations

import argparse


def table(rows: list[list[str]], header: list[str]) -> str:
    """Rows under a header, in aligned columns."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def data_options(pairs: list[str]) -> dict:
    """`--option key=value` pairs as a dict; values read as YAML scalars (true, 0.25, intra-patient)."""
    import yaml

    from meddl.errors import ConfigError

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE, e.g. --option split=intra-patient")
        options[key.strip().replace("-", "_")] = yaml.safe_load(value) if value.strip() else ""
    return options


def devices(value: str) -> int | str:
    """A device count as a number ('2', '-1'); 'auto' and index lists ('0,1') stay text for Lightning."""
    return int(value) if value.lstrip("-").isdigit() else value


def print_result(result) -> None:
    """The headline figures of a training or evaluation run (whichever the run reports), then where its files are."""
    split = next(name for name in ("test", "all", "val", "train") if name in result.metrics)
    metrics, ci = result.metrics[split], result.confidence_intervals

    def with_ci(key: str) -> str:
        value = metrics.get(key)
        if value is None:
            return "n/a"
        low, high = ci.get(key, [None, None])
        return f"{value:.3f}" + (f" (95% CI {low:.3f}-{high:.3f})" if low is not None else "")

    if "perplexity" in metrics:
        print(f"{split} perplexity {metrics['perplexity']:.2f} over {metrics['tokens']} tokens")
    elif "auc" in metrics:
        print(f"{split} AUC {with_ci('auc')}   ACC {with_ci('acc')}")
    else:
        print(f"{split} macro-F1 {with_ci('macro_f1')}   ACC {with_ci('acc')}")
    privacy = result.metrics.get("privacy")
    if privacy:
        print(f"privacy: epsilon {privacy['epsilon']:.2f} spent (target {privacy['target_epsilon']:g}), "
              f"delta {privacy['delta']:g}, DP-SGD")
    print(f"report:  {result.report}")
    print(f"metrics: {result.output_dir / 'metrics.json'}")


Subparsers = argparse._SubParsersAction
