"""Figures for the classification reports, each returned rendered: PNG bytes that also carry the same figure as SVG.

Every function builds one figure, renders it and closes it, so a long evaluation never accumulates open figures.
The PNG is what pages embed and what older callers write; the SVG (vector: sharp at any zoom, fit for print and
papers) is written beside it and embedded where a page wants it (see `Rendered`). The Agg backend is selected here,
before pyplot is imported, so reports render on headless servers. Label names come from user folders and can be
long; they are shortened in figures (the HTML tables keep them whole). The ROC and precision-recall figures live
in `meddl.evaluate.curve_figures`.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 110
CORRECT, WRONG = "#2e8b57", "#d62728"
STYLE = {"axes.spines.top": False, "axes.spines.right": False, "font.size": 9}


class Rendered(bytes):
    """A rendered figure: the object itself is its PNG (so every caller that wants bytes keeps working), and `svg`
    holds the same figure as vector graphics."""

    svg: bytes

    def __new__(cls, png: bytes, svg: bytes) -> "Rendered":
        rendered = super().__new__(cls, png)
        rendered.svg = svg
        return rendered


def styled(draw: Callable[..., Rendered]) -> Callable[..., Rendered]:
    """Apply the report style to one figure without changing the caller's matplotlib settings."""

    @functools.wraps(draw)
    def in_style(*args, **kwargs) -> Rendered:
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)

    return in_style


def to_png(fig: Figure) -> bytes:
    """Render as PNG only and close: the caller only ever sees bytes."""
    try:
        return _save(fig, "png")
    finally:
        plt.close(fig)


def render(fig: Figure) -> Rendered:
    """Render as PNG and SVG, and close. The SVG has no date in it, so equal figures give equal files."""
    try:
        return Rendered(_save(fig, "png"), _save(fig, "svg", metadata={"Date": None}))
    finally:
        plt.close(fig)


def _save(fig: Figure, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI, bbox_inches="tight", facecolor="white", **options)
    return buffer.getvalue()


def short(name: str, width: int = 20) -> str:
    """Truncate a label with an ellipsis so axes and legends stay readable."""
    return name if len(name) <= width else name[: width - 1].rstrip() + "…"


def blank(message: str) -> Rendered:
    """A small figure saying why a plot is missing, so the page layout never breaks."""
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color="gray")
    return render(fig)


def _heatmap(ax, counts: np.ndarray, fontsize: float) -> None:
    """Colour cells by row-normalised rate and write the count and row % in each."""
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (r, c), n in np.ndenumerate(counts):
        color = "white" if rates[r, c] > 0.55 else "black"
        ax.text(c, r, f"{n}\n{rates[r, c]:.0%}", ha="center", va="center", fontsize=fontsize, color=color)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


@styled
def confusion_matrix(counts: list[list[int]], labels: list[str],
                     title: str = "Confusion matrix (count, % of true class)") -> Rendered:
    """Counts and row-normalised % per cell (rows true, columns predicted); grows with the number of classes.
    `title` says at which decision the matrix was counted where that is not the obvious one."""
    if not counts:
        return blank("No confusion matrix available")
    cm = np.asarray(counts, dtype=int)
    k = len(cm)
    side = max(4.2, 0.62 * k + 2.5)
    fig, ax = plt.subplots(figsize=(side, side))
    _heatmap(ax, cm, fontsize=12 if k <= 3 else 9 if k <= 8 else 7 if k <= 14 else 5.5)
    names = [short(label, 22) for label in labels]
    ax.set_xticks(range(k), names, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), names)
    ax.set(xlabel="Predicted", ylabel="True", title=title)
    ax.tick_params(length=0)
    return render(fig)


@styled
def label_confusion_matrices(matrices: list[list[list[int]]], labels: list[str], title: str | None = None) -> Rendered:
    """Multi-label: one small 2x2 matrix [[tn, fp], [fn, tp]] per label, five to a row, under an optional title."""
    if not matrices:
        return blank("No confusion matrices available")
    cols = min(len(matrices), 5)
    rows = math.ceil(len(matrices) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(matrices):]:
        ax.axis("off")
    for ax, cm, label in zip(axes.flat, matrices, labels):
        _heatmap(ax, np.asarray(cm, dtype=int), fontsize=8)
        ax.set_xticks([0, 1], ["neg", "pos"])
        ax.set_yticks([0, 1], ["neg", "pos"])
        ax.set_title(short(label, 24), fontsize=9)
        ax.tick_params(length=0, labelsize=8)
    fig.supxlabel("Predicted", fontsize=9)
    fig.supylabel("True", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return render(fig)


@styled
def reliability_diagram(calibration: dict | None, ece: float | None) -> Rendered:
    """Accuracy per confidence bin against the diagonal, with the gap shaded and bin counts beneath."""
    if not calibration or not calibration.get("bin_edges"):
        return blank("No calibration data available")
    edges = np.asarray(calibration["bin_edges"], float)
    left, width = edges[:-1], np.diff(edges)

    def values(key: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in calibration[key]], float)

    acc, conf, count = values("bin_accuracy"), values("bin_confidence"), np.nan_to_num(values("bin_count"))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.8, 4.9), sharex=True, height_ratios=[3, 1])
    filled = ~np.isnan(acc)
    top.bar(left[filled], acc[filled], width[filled], align="edge", color="#4c72b0", edgecolor="white",
            label="accuracy")
    gap = filled & ~np.isnan(conf)
    top.bar(left[gap], (conf - acc)[gap], width[gap], bottom=acc[gap], align="edge", facecolor="none",
            edgecolor=WRONG, hatch="////", lw=0.8, label="gap to mean confidence")
    top.plot([edges[0], edges[-1]], [edges[0], edges[-1]], ls="--", color="gray", lw=1, label="perfect calibration")
    title = "Reliability diagram" + ("" if ece is None else f" · ECE = {ece:.3f}")
    top.set(ylim=(0, 1), ylabel="Accuracy", title=title)
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    bottom.bar(left, count, width, align="edge", color="gray", edgecolor="white")
    bottom.set(xlim=(edges[0], edges[-1]), xlabel="Confidence", ylabel="Samples")
    return render(fig)


@styled
def training_curves(history: list[dict], best_epoch: int | None) -> Rendered:
    """Loss (train and val) beside validation AUC and accuracy, with the selected epoch marked."""
    epochs = [row.get("epoch", i) for i, row in enumerate(history)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    panels = [(axes[0], "Loss", [("train_loss", "train"), ("val_loss", "validation")]),
              (axes[1], "Validation metrics", [("val_auc", "AUC"), ("val_acc", "accuracy")])]
    for ax, title, series in panels:
        ax.set(title=title, xlabel="Epoch")
        drawn = False
        for key, name in series:
            ys = np.array([np.nan if row.get(key) is None else row[key] for row in history], float)
            if np.isfinite(ys).any():
                ax.plot(epochs, ys, marker="o" if len(ys) <= 30 else None, ms=3, lw=1.6, label=name)
                drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", color="gray", transform=ax.transAxes)
            continue
        if best_epoch is not None:
            ax.axvline(best_epoch, ls=":", color="black", lw=1.2, label=f"best epoch ({best_epoch})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return render(fig)


def predictions(
    y_true: np.ndarray, y_prob: np.ndarray, task: str, threshold: float | list[float] = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted labels, whether each sample is right, and how confident the model was in its call.

    As in the metrics (and MedMNIST), a binary case or a label is positive only when its probability is strictly
    above the threshold (multi-label: optionally one per label); a multi-label sample is right only if all its
    labels are. Confidence is the probability of the predicted class; for multi-label it is the certainty of the
    most confident wrong label for errors and of the least certain label for correct samples.
    """
    if task == "multi-label":
        pred = (y_prob > threshold).astype(int)
        sure = np.where(pred == 1, y_prob, 1 - y_prob)
        wrong = pred != y_true
        correct = ~wrong.any(axis=1)
        confidence = np.where(correct, sure.min(axis=1), np.where(wrong, sure, 0).max(axis=1))
        return pred, correct, confidence
    pred = (y_prob[:, 1] > threshold).astype(int) if task == "binary" else y_prob.argmax(axis=1)
    return pred, pred == y_true, y_prob[np.arange(len(pred)), pred]


def order_errors_first(y_true: np.ndarray, y_prob: np.ndarray, task: str,
                       threshold: float | list[float] = 0.5) -> np.ndarray:
    """Sample indices with errors first, each group most confident first: confident mistakes matter most."""
    _, correct, confidence = predictions(y_true, y_prob, task, threshold)
    return np.lexsort((np.arange(len(correct)), -confidence, correct))


def _names(labels: list[str], flags: np.ndarray) -> str:
    """A set of labels in at most ~16 characters: all names if they fit, else the first and a count."""
    chosen = [labels[j] for j in np.flatnonzero(flags)]
    text = ", ".join(chosen) or "none"
    if len(text) <= 16 or len(chosen) == 1:
        return short(text, 14)
    return f"{short(chosen[0], 11)} +{len(chosen) - 1}"


def _caption(truth: np.ndarray, pred: np.ndarray, prob: np.ndarray, task: str, labels: list[str]) -> str:
    """Three short lines: truth, prediction, and the probability behind the call (see `predictions`)."""
    if task != "multi-label":
        return f"true: {short(labels[int(truth)], 14)}\npred: {short(labels[int(pred)], 14)}\np = {prob[pred]:.2f}"
    sure, wrong = np.where(pred == 1, prob, 1 - prob), pred != truth
    j = int(np.argmax(np.where(wrong, sure, -1))) if wrong.any() else int(np.argmin(sure))
    return f"true: {_names(labels, truth)}\npred: {_names(labels, pred)}\n{short(labels[j], 12)} p = {prob[j]:.2f}"


@styled
def sample_grid(images: np.ndarray, y_true: np.ndarray, y_prob: np.ndarray, labels: list[str], task: str,
                threshold: float | list[float] = 0.5, max_tiles: int = 32) -> Rendered:
    """A grid of test images, errors first, framed red (wrong) or green (right), captioned true / pred / prob."""
    if len(images) == 0:
        return blank("No test images available")
    pred, correct, _ = predictions(y_true, y_prob, task, threshold)
    order = order_errors_first(y_true, y_prob, task, threshold)[:max_tiles]
    aspect = images.shape[2] / images.shape[1]  # 3 for a volume's three planes side by side
    cols = min(len(order), max(2, round(12 / aspect)) if aspect > 1.5 else 8)
    rows = math.ceil(len(order) / cols)
    width = 1.25 * (aspect if aspect > 1.5 else 1)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 1.85 * rows), squeeze=False)
    for ax in axes.flat[len(order):]:
        ax.axis("off")
    for ax, i in zip(axes.flat, order):
        image = images[i]
        gray = image.shape[-1] == 1
        ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        color = CORRECT if correct[i] else WRONG
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color(color)
            spine.set_linewidth(3)
        ax.set_xlabel(_caption(y_true[i], pred[i], y_prob[i], task, labels), fontsize=7, color=color,
                      linespacing=1.3)
    n_errors = int((~correct).sum())
    errors = f"{n_errors} wrong, shown first (most confident first)" if n_errors else "all correct"
    fig.suptitle(f"{len(order)} of {len(images)} test images · {errors}", fontsize=10)
    fig.tight_layout()
    return render(fig)
