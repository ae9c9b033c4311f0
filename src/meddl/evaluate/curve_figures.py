"""The ROC and precision-recall figures of the classification report, with the operating point marked.

The ROC figure shades each curve's 95% bootstrap band (`meddl.evaluate.metrics.roc_band`); both figures mark where
the deployed decision sits on each curve, so a reader sees what the model does in use as well as what it could do
at any threshold. Curves come in the layout of `meddl.evaluate.metrics.compute_metrics` (`roc`, `pr`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from meddl.evaluate.figures import Rendered, blank, render, short, styled

Point = tuple[float, float]


@styled
def roc_curves(curves: list[dict], aucs: dict[str, float | None], band: list[dict] | None = None,
               points: dict[str, Point] | None = None) -> Rendered:
    """One ROC curve per class with its AUC in the legend; `aucs` (by name) are the reported values. `band` shades
    each curve's confidence band; `points` ({name: (1 - specificity, sensitivity)}) marks the operating point.

    A class whose curve is undefined (no positives or no negatives) is left out; where a drawn class has no
    reported AUC, the area under its curve is shown.
    """
    if not any(curve["fpr"] for curve in curves):
        return blank("No ROC curves available (no positive or no negative cases)")
    bands = {entry["name"]: entry for entry in band or [] if entry["fpr"]}
    fig, ax, colors = _axes(len(curves))
    for i, curve in enumerate(curves):
        if not curve["fpr"]:
            continue
        name, color = curve["name"], colors[i % len(colors)]  # by position, as in the PR figure
        fpr, tpr = np.asarray(curve["fpr"], float), np.asarray(curve["tpr"], float)
        auc = aucs.get(name)
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)) if auc is None else auc
        ax.plot(fpr, tpr, lw=1.6, color=color, label=f"{short(name)} (AUC {auc:.3f})")
        if name in bands:
            ax.fill_between(bands[name]["fpr"], bands[name]["tpr_low"], bands[name]["tpr_high"], color=color,
                            alpha=0.15 if len(curves) <= 3 else 0.07, lw=0)
        _mark(ax, (points or {}).get(name), color)
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="gray", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 − specificity (false positive rate)",
           ylabel="Sensitivity (true positive rate)", aspect="equal",
           title="ROC curves" + (" · shaded: 95% CI" if bands else ""))
    extra = [Patch(color="gray", alpha=0.3, label="95% CI (bootstrap)")] if bands else []
    _legend(ax, len(curves), extra + _point_handle(points), "lower right")
    return render(fig)


@styled
def pr_curves(curves: list[dict], auprcs: dict[str, float | None], points: dict[str, Point] | None = None,
              prevalence: float | None = None) -> Rendered:
    """One precision-recall curve per class with its AUPRC (average precision) in the legend, drawn as steps so the
    area under the steps is that average precision; `points` ({name: (sensitivity, PPV)}) marks the operating
    point. `prevalence` (one curve only) draws the chance level: a model that ranks at random has PPV = prevalence.
    """
    if not any(curve["recall"] for curve in curves):
        return blank("No precision-recall curves available (no positive cases)")
    fig, ax, colors = _axes(len(curves))
    for i, curve in enumerate(curves):
        if not curve["recall"]:
            continue
        name, color = curve["name"], colors[i % len(colors)]  # by position, as in the ROC figure
        value = auprcs.get(name)
        text = "—" if value is None else f"{value:.3f}"
        ax.plot(curve["recall"], curve["precision"], drawstyle="steps-post", lw=1.6, color=color,
                label=f"{short(name)} (AUPRC {text})")
        _mark(ax, (points or {}).get(name), color)
    if prevalence is not None and len(curves) == 1:
        ax.axhline(prevalence, ls="--", lw=1, color="gray", label=f"chance (prevalence {prevalence:.2f})")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Sensitivity (recall)", ylabel="PPV (precision)", aspect="equal",
           title="Precision-recall curves")
    _legend(ax, len(curves), _point_handle(points), "lower left")
    return render(fig)


def _axes(n_curves: int):
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    colors = plt.get_cmap("tab20" if n_curves > 10 else "tab10").colors
    ax.grid(alpha=0.3)
    return fig, ax, colors


def _mark(ax, point: Point | None, color) -> None:
    """The operating point as a hollow circle in the curve's colour (nothing where a rate is undefined)."""
    if point is not None and None not in point:
        ax.plot(*point, marker="o", ms=7, mfc="white", mec=color, mew=2, ls="none", zorder=5)


def _point_handle(points: dict[str, Point] | None) -> list:
    if not points:
        return []
    return [Line2D([], [], marker="o", ms=7, mfc="white", mec="black", mew=2, ls="none", label="operating point")]


def _legend(ax, n_curves: int, extra: list, loc: str) -> None:
    handles = ax.get_legend_handles_labels()[0] + extra
    if n_curves > 10:
        ax.legend(handles=handles, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2,
                  frameon=False)
    else:
        ax.legend(handles=handles, fontsize=8, loc=loc)
