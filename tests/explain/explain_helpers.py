"""A briefly trained model with a planted shortcut, for testing that explanations point at what a model uses.

Real BreastMNIST ultrasound images are split into two classes at random; the "marker" class also carries a white
8x8 square in the top-right corner, like a label burned into a scan. The square is the only signal, so a model that
learns the task must look at it, and a faithful explanation must point there.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MARKER = (slice(0, 8), slice(20, 28))  # rows, columns of the square in the 28x28 images
N_IMAGES = 240


@dataclass(frozen=True)
class MarkerRun:
    data: Path
    run: Path
    checkpoint: Path
    labels: list[str]
    test_images: np.ndarray  # uint8 (N, 28, 28, 1), the run's test split
    test_has_marker: np.ndarray  # bool (N,)


def plant_marker(image: np.ndarray) -> np.ndarray:
    marked = image.copy()
    marked[MARKER] = 255
    return marked


def marker_box(dilation: int) -> np.ndarray:
    """The marker's footprint grown by `dilation` pixels on each side, as a (28, 28) mask."""
    rows, cols = MARKER
    box = np.zeros((28, 28), dtype=bool)
    box[max(rows.start - dilation, 0) : rows.stop + dilation,
        max(cols.start - dilation, 0) : cols.stop + dilation] = True
    return box


def train_marker_run(shared_medmnist: Path, root: Path) -> MarkerRun:
    """Write the marker data set as a folder of class sub-folders and train fast-cnn on it through `meddl.train`
    (4 epochs, a few seconds on a CPU core); the run's last checkpoint is the model to explain."""
    import meddl
    from meddl.data.imageio import read_image

    with np.load(shared_medmnist / "breastmnist.npz") as archive:
        images = archive["train_images"][:N_IMAGES]
    for index, image in enumerate(images):
        has_marker = index % 2 == 1
        folder = root / "data" / ("marker" if has_marker else "plain")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(plant_marker(image) if has_marker else image).save(folder / f"{index:03d}.png")
    meddl.train(str(root / "data"), root / "run", epochs=4, batch_size=16, augment=False, bootstrap=20,
                progress=False)
    with open(root / "data" / "meddl_split.csv", newline="") as handle:
        test = [row["path"] for row in csv.DictReader(handle) if row["split"] == "test"]
    return MarkerRun(
        data=root / "data",
        run=root / "run",
        checkpoint=root / "run" / "checkpoints" / "last.ckpt",
        labels=json.loads((root / "run" / "metrics.json").read_text())["labels"],
        test_images=np.stack([read_image(root / "data" / path) for path in test]),
        test_has_marker=np.array([path.startswith("marker/") for path in test]),
    )
