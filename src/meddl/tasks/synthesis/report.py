"""The report page of a GAN run. Quality leads: once `meddl gan evaluate` has run, the page opens with FID,
precision/recall and memorisation, then shows sample grids per class beside real images (and the grids saved during
training), then the use of the samples for classification (TSTR, the equal-step augmentation comparison), and the
losses last; collapse warnings follow the quality section.

Everything is read from the run folder (`gan_run.json`, `checkpoints/last.ckpt`), so training writes the page and
evaluation rewrites it with its metrics by calling the same function. Self-contained HTML (figures as data URIs,
inline CSS), in the look of the classifier report.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from html import escape
from importlib.resources import files
from pathlib import Path
from string import Template

import numpy as np

from meddl.atomic import write_text_atomic
from meddl.errors import MeddlError
from meddl.evaluate.report import duration, report_stylesheet
from meddl.tasks.synthesis.report_sections import headline, quality, utility

GRID_SEED = 1234
COLUMNS = 10


def write_gan_report(output_dir: str | Path, metrics: dict | None = None, *, checkpoint: str | Path | None = None,
                     data_dir: str | Path | None = None) -> Path:
    """Write `output_dir/report.html` for the GAN run in `output_dir` and return its path.

    `metrics` (what `meddl gan evaluate` writes to metrics.json) adds the quality section at the top and the
    classification-utility section after the samples. `checkpoint` defaults to the run's last.ckpt, `data_dir`
    (for the real images) to the one the run was trained with.
    """
    from meddl.tasks.synthesis.training import RUN_FILE

    output = Path(output_dir)
    run_file = output / RUN_FILE
    if not run_file.is_file():
        raise MeddlError(f"{output} holds no GAN run ({RUN_FILE} missing); train one with `meddl gan train`")
    run = json.loads(run_file.read_text(encoding="utf-8"))
    real_grid, fake_grid = _grids(run, Path(checkpoint) if checkpoint else output / "checkpoints" / "last.ckpt",
                                  data_dir if data_dir is not None else run.get("data_dir"))
    config = run["config"]
    kind = ("class-conditional " if config["conditional"] else "") + "DCGAN"
    date = datetime.now().strftime("%Y-%m-%d %H:%M")
    facts = [("Dataset", config["dataset"]), ("Model", f"{kind} ({config['conditioning']})" if config["conditional"]
                                               else kind),
             ("Loss", config["loss"]), ("Epochs", str(run["epochs_trained"])),
             ("Training images", str(run["n_train"])), ("Wall time", duration(run["fit_seconds"])), ("Date", date)]
    template = Template(files("meddl.tasks.synthesis").joinpath("report_template.html").read_text(encoding="utf-8"))
    html = template.substitute(
        style=report_stylesheet(),
        title=escape(f"{config['dataset']} · {kind} synthesis"),
        facts=" · ".join(f"<span>{escape(k)} <b>{escape(v)}</b></span>" for k, v in facts),
        headline=headline(metrics),
        quality=quality(metrics),
        collapse=_collapse(run.get("collapse")),
        utility=utility(metrics),
        rows=escape(", ".join(run["labels"]) if config["conditional"] else "unconditional"),
        real_grid=_uri(real_grid),
        fake_grid=_uri(fake_grid),
        curves=_uri(_curves(run["history"])),
        progression=_progression(output / "samples"),
        config=escape(json.dumps(config, indent=2)),
        date=escape(date),
    )
    return write_text_atomic(output / "report.html", html)


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _grids(run: dict, checkpoint: Path, data_dir) -> tuple[bytes, bytes]:
    """Real training images and EMA-generator samples, one row of COLUMNS per class (one row if unconditional)."""
    from meddl.data import load_dataset
    from meddl.tasks.synthesis.sampling import grid_png, load_generator, sample_images

    bundle = load_generator(checkpoint)
    rows = range(len(bundle.labels)) if bundle.conditional else [None]
    fakes = np.concatenate([sample_images(bundle, COLUMNS, label=row, seed=GRID_SEED)[0] for row in rows])
    try:
        data = load_dataset(bundle.dataset, size=bundle.image_size, data_dir=data_dir)
        images, labels = data.images["train"], np.asarray(data.labels["train"]).reshape(len(data.images["train"]), -1)
        rng = np.random.default_rng(GRID_SEED)
        chosen = [rng.permutation(np.flatnonzero(labels[:, 0] == row) if row is not None
                                  else np.arange(len(images)))[:COLUMNS] for row in rows]
        real = np.concatenate([images[index] for index in chosen])
        real_png = grid_png(real, len(rows))
    except MeddlError:
        from meddl.evaluate.figures import blank

        real_png = blank("real images not available here")
    return real_png, grid_png(fakes, len(rows))


def _curves(history: list[dict]) -> bytes:
    import matplotlib.pyplot as plt

    from meddl.evaluate.figures import STYLE, to_png

    epochs = [row["epoch"] for row in history]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        panels = ((axes[0], "Losses", (("train_d_loss", "discriminator"), ("train_g_loss", "generator"))),
                  (axes[1], "Discriminator accuracy", (("train_d_real_acc", "real called real"),
                                                       ("train_d_fake_acc", "fake called fake"))))
        for ax, title, series in panels:
            ax.set(title=title, xlabel="Epoch")
            for key, name in series:
                ys = np.array([np.nan if row.get(key) is None else row[key] for row in history], float)
                if np.isfinite(ys).any():
                    ax.plot(epochs, ys, marker="o" if len(ys) <= 30 else None, ms=3, lw=1.6, label=name)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
        fig.tight_layout()
        return to_png(fig)


def _collapse(collapse: dict | None) -> str:
    if not collapse:
        return ""
    items = "".join(f"<li>epoch {event['epoch']}: {escape(event['message'])}</li>" for event in collapse["events"])
    stopped = f"<p><b>{escape(collapse['reason'])}</b></p>" if collapse.get("stopped") else ""
    return (f'<section class="warning">\n  <h2>Collapse warnings</h2>\n  <p class="note">The collapse detector '
            f"flagged these epochs; treat the samples with suspicion.</p>\n  {stopped}<ul>{items}</ul>\n</section>\n")


def _progression(samples: Path) -> str:
    """The sample grids saved during training, oldest first, so the reader sees learning (or collapse) happen."""
    grids = sorted(samples.glob("epoch_*.png"))
    if not grids:
        return ""
    if len(grids) > 6:
        grids = [grids[int(i)] for i in np.linspace(0, len(grids) - 1, 6).round()]
    tiles = "".join(f'<figure><img src="{_uri(path.read_bytes())}" alt="{escape(path.stem)}">'
                    f"<figcaption>{escape(path.stem.replace('_', ' '))}</figcaption></figure>" for path in grids)
    return ('<section>\n  <h2>Samples during training</h2>\n  <p class="note">The fixed-latent grid at several '
            f'epochs (files in samples/).</p>\n  <div class="progress">{tiles}</div>\n</section>\n')
