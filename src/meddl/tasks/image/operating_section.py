"""The report's "Operating point" section: the decision the model is deployed with, where it came from, and the
sensitivity, specificity, PPV and NPV per class at it, each with its 95% bootstrap interval.

It reads an `operating_point` record (`meddl.evaluate.operating_point`); where the threshold was tuned it shows
MedMNIST's 0.5 beside it, so benchmark figures and figures in use can both be read off one table.
"""

from __future__ import annotations

from meddl.evaluate.metrics import RATES
from meddl.evaluate.report import DASH, fmt, interval, section, table

RATE_NAMES = {"sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV", "npv": "NPV", "f1": "F1"}
SUMMARY = (("Accuracy", "acc"), ("Balanced accuracy", "balanced_accuracy"), ("Macro-F1", "macro_f1"))


def threshold_text(op: dict) -> str:
    """The decision in a few words, for titles: "at threshold 0.615 (tuned: youden)", "at the argmax"."""
    if op["threshold"] is None:
        return "at the argmax (most probable class)"
    if op["method"].startswith("default"):
        return "at the default threshold 0.5"
    return f"at threshold {format_threshold(op['threshold'])} ({op['method']})"


def operating_section(op: dict, metrics: dict, task: str) -> str:
    """The section's HTML: how the model decides, a summary table and the per-class rates with intervals.
    `metrics` are those at MedMNIST's convention (`compute_metrics` at 0.5), shown beside a tuned threshold."""
    tuned = op["method"].startswith("tuned")
    summary = [[name, fmt(op.get(key)), interval(op["ci"].get(key))] + ([fmt(metrics.get(key))] if tuned else [])
               for name, key in SUMMARY]
    if tuned and task == "binary":  # the positive class, where a tuned threshold moves the trade-off
        positive, at_half = op["per_class"][1], metrics["per_class"][1]
        summary += [[f"{RATE_NAMES[rate]} ({positive['name']})", fmt(positive[rate]),
                     interval(positive["ci"][rate]), fmt(at_half.get(rate))]
                    for rate in ("sensitivity", "specificity", "ppv", "npv")]
    header = ["Metric", "At the operating point", "95% CI"] + (["At 0.5 (MedMNIST)"] if tuned else [])
    per_class = [[row["name"], str(row["support"])] + [_with_interval(row[rate], row["ci"][rate]) for rate in RATES]
                 for row in op["per_class"]]
    kind = "Label" if task == "multi-label" else "Class"
    body = (f'<div class="table-wrap">{table(header, summary, "metrics")}</div>'
            f'<div class="table-wrap">{table([kind, "Support", *RATE_NAMES.values()], per_class, "per-class")}</div>')
    return section("Operating point", _how(op, task), body)


def _how(op: dict, task: str) -> str:
    """Where the decision comes from and how to read the tables, in words."""
    method, rows = op["method"], ("Each label on its own" if task == "multi-label"
                                  else "Each class against all others")
    if op["threshold"] is None:
        how = "taking the most probable class (argmax), as MedMNIST does"
    elif method.startswith("default"):
        how = ("a threshold of 0.5 on the probability: the checkpoint holds no tuned threshold (it was trained "
               "without a validation split, or by an older meddl)")
    else:
        rule = method.removeprefix("tuned: ")
        if rule == "youden":
            rule = "Youden's J (sensitivity + specificity − 1)"
        elif rule.startswith("sensitivity>="):
            rule = f"the highest threshold reaching sensitivity {rule.split('>=')[1]}"
        how = (f"the threshold {format_threshold(op['threshold'])}, tuned on the validation split by {rule}, never "
               "on test data")
    return (f"The model decides by {how}; predict, export and the HTTP API decide the same way, so these are the "
            f"rates to expect in use. {rows}; 95% bootstrap intervals in brackets; {DASH} marks a value that is "
            "undefined (no positive cases, or none predicted).")


def format_threshold(threshold: float | list[float]) -> str:
    """One threshold, or one per label, as printed on the page."""
    return " / ".join(fmt(v, 3) for v in threshold) if isinstance(threshold, list) else fmt(threshold, 3)


def _with_interval(value: float | None, bounds: list[float | None]) -> str:
    shown = interval(bounds)
    return fmt(value) if shown == DASH else f"{fmt(value)} ({shown})"
