"""The training report's "Why" section: Grad-CAM overlays of the most confident errors."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from meddl.tasks.image.evaluation import predict_split
from meddl.explain.mistakes import explain_mistakes
from meddl.tasks.image import load_classifier

SECTION = "Why: Grad-CAM on the most confident errors"


def test_the_most_confident_errors_are_explained_first(marker_run):
    module = load_classifier(marker_run.checkpoint)
    images = marker_run.test_images[:12]
    y_prob = predict_split(module, images)
    wrong_truth = 1 - y_prob.argmax(axis=1)  # every prediction becomes an error
    shown = explain_mistakes(module, images, wrong_truth, y_prob)
    assert len(shown) == 8
    confidences = [float(re.search(r"p = ([0-9.]+)", caption).group(1)) for caption, _ in shown]
    assert confidences == sorted(confidences, reverse=True)
    caption, png = shown[0]
    assert caption.startswith("true ") and " · predicted " in caption
    with Image.open(io.BytesIO(png)) as overlay:
        assert overlay.size == (160, 160)
    assert explain_mistakes(module, images, y_prob.argmax(axis=1), y_prob) == []


def test_the_training_report_shows_them_embedded(marker_run):
    html = (marker_run.run / "report.html").read_text(encoding="utf-8")
    section = html[html.index(SECTION):]
    section = section[: section.index("</section>")]
    figures = re.findall(r'<img src="data:image/png;base64,([^"]+)"', section)
    assert len(figures) <= 8 and ("No wrong predictions" in section) == (not figures)
    for data in figures:
        with Image.open(io.BytesIO(base64.b64decode(data))) as overlay:
            assert overlay.format == "PNG"
    assert all(caption.count("predicted") == 1 for caption in re.findall(r"<figcaption>([^<]*)", section))
