"""Explaining image files (the `explain` verb): heatmaps, overlay PNGs and a summary table for each file.

Files are read a chunk at a time, so a folder of large DICOMs never sits in memory at once. The overlay is drawn
on the image as stored (longer side 224 px), not on the small copy the model saw, so anatomy stays recognisable.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from meddl.errors import ConfigError
from meddl.explain.heatmaps import check_method, check_target, default_targets, explain_images
from meddl.explain.overlay import overlay_png

CHUNK = 32  # files read, explained and written per step
SUMMARY_FIELDS = ("file", "label", "explained", "probability", "method", "overlay")


@dataclass(frozen=True)
class Explanation:
    """One explained file: the predicted `label` (as `predict` gives it), the class the heatmap is `explained`
    for, the model's `probability` for that class, and where the overlay PNG went (None if not written)."""

    file: str
    label: str
    explained: str
    probability: float
    method: str
    overlay: str | None
    heatmap: np.ndarray = field(repr=False, compare=False)


def resolve_target(target: int | str | None, labels: list[str]) -> int | None:
    """A class given by name or index, as its index (None stays None: explain each predicted class)."""
    if target is None:
        return None
    if isinstance(target, str) and target in labels:
        return labels.index(target)
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        check_target(int(target), labels)
        return int(target)
    raise ConfigError(f"unknown target class {target!r}: expected one of {', '.join(labels)} or an index "
                      f"0-{len(labels) - 1}")


def explain_files(
    module,
    files: list[Path],
    method: str = "gradcam",
    target: int | str | None = None,
    output_dir: Path | None = None,
    progress: bool = False,
) -> list[Explanation]:
    """Explain each file for its predicted class (or `target`); with `output_dir`, write `<stem>_<method>.png`
    overlays and `explanations.csv` / `explanations.json` there."""
    from tqdm import tqdm

    from meddl.data.imageio import is_image_file, read_image
    from meddl.inference import predict_files, prepare_image

    check_method(method)
    hp = module.hparams
    if hp.get("spatial_dims", 2) == 3:
        raise ConfigError(f"{hp.model} classifies 3D volumes; explaining image files is for 2D models so far (the "
                          "report of `meddl evaluate` shows 3D Grad-CAM of the test volumes)")
    labels = list(hp.labels)
    index = resolve_target(target, labels)
    unsupported = next((path for path in files if not is_image_file(path)), None)
    if unsupported is not None:
        read_image(unsupported)  # raises the DataError naming the file and the types meddl reads, before any output
    names = _overlay_names(files, method) if output_dir is not None else [None] * len(files)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    results: list[Explanation] = []
    bar = tqdm(total=len(files), desc=f"explaining ({method})", unit="image", leave=False,
               disable=None if progress else True)
    for start in range(0, len(files), CHUNK):
        chunk = files[start : start + CHUNK]
        predictions = predict_files(module, chunk)
        originals = [read_image(path) for path in chunk]
        batch = np.stack([prepare_image(image, hp.in_channels, hp.image_size) for image in originals])
        heatmaps = explain_images(module, batch, method, index)
        probs = np.array([[p.probabilities[name] for name in labels] for p in predictions])
        targets = default_targets(hp.task, probs) if index is None else np.full(len(chunk), index)
        for path, prediction, image, heatmap, cls, name in zip(
            chunk, predictions, originals, heatmaps, targets, names[start : start + CHUNK]
        ):
            overlay = None
            if name is not None:
                overlay = output_dir / name
                overlay.write_bytes(overlay_png(image, heatmap))
            results.append(Explanation(str(path), prediction.label, labels[cls], prediction.probabilities[labels[cls]],
                                       method, None if overlay is None else str(overlay), heatmap))
        bar.update(len(chunk))
    bar.close()
    if output_dir is not None:
        write_summary(results, output_dir)
    return results


def _overlay_names(files: list[Path], method: str) -> list[str]:
    """`<stem>_<method>.png` per file, numbered where two files share a stem (class folders often do)."""
    slug = method.replace("+", "p")
    stems = [path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem for path in files]
    names: list[str] = []
    used: set[str] = set()
    for stem in stems:
        name, number = f"{stem}_{slug}.png", 1
        while name in used:
            number += 1
            name = f"{stem}-{number}_{slug}.png"
        names.append(name)
        used.add(name)
    return names


def write_summary(results: list[Explanation], output_dir: Path) -> None:
    """explanations.csv and explanations.json: one row per file (heatmaps stay in the overlays)."""
    from meddl.atomic import write_json_atomic, write_text_atomic

    rows = [{key: getattr(result, key) for key in SUMMARY_FIELDS} for result in results]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "probability": f"{row['probability']:.6f}", "overlay": row["overlay"] or ""})
    write_text_atomic(output_dir / "explanations.csv", buffer.getvalue())
    write_json_atomic(output_dir / "explanations.json", rows)
