"""The web page in a real headless Chromium against a real uvicorn server on 127.0.0.1: a clinician enters the key,
chooses an image and reads the prediction, the heatmap and the model card. A screenshot is kept as an artifact
(in the test's tmp dir, and in $MEDDL_ARTIFACTS when set)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from serve_helpers import KEY, png_bytes, sample_images, served_model

from meddl.serve.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (install the 'chromium' package)"),
]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """uvicorn serving the test model on a free loopback port, in a background thread."""
    import uvicorn

    app = create_app(served_model(tmp_path_factory, "onnx"), api_key=KEY)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    # The page must not reach beyond its own server (no CDN, fonts or analytics).
    page.on("request", lambda request: request.url.startswith("http://127.0.0.1:")
            or request.url.startswith(("blob:", "data:")) or page.problems.append(f"external request {request.url}"))
    yield page
    context.close()


def keep_screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("MEDDL_ARTIFACTS"):
        target = Path(os.environ["MEDDL_ARTIFACTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)
    return path


def test_a_clinician_uploads_an_image_and_reads_the_prediction(page, server_url, tmp_path):
    from playwright.sync_api import expect

    image_file = tmp_path / "breast_ultrasound.png"
    image_file.write_bytes(png_bytes(sample_images(3)[2]))
    expected = httpx.post(f"{server_url}/v1/predict", headers={"X-API-Key": KEY},
                          files={"file": (image_file.name, image_file.read_bytes())}).json()

    page.goto(server_url)
    page.fill("#api-key", KEY)
    page.click("#save-key")
    page.wait_for_selector("#model-card:not(.hidden)")
    assert "breastmnist" in page.inner_text("#card-table")
    assert "AUC" in page.inner_text("#metrics-table") and "–" in page.inner_text("#metrics-table")  # a CI

    page.set_input_files("#file-input", str(image_file))
    expect(page.locator("#status")).to_have_text("done", timeout=30_000)  # (the page's CSP forbids eval)
    assert page.inner_text("#result-label") == expected["label"]
    bars = {bar.get_attribute("data-label"): bar.inner_text() for bar in page.query_selector_all("#probabilities .bar")}
    assert set(bars) == set(expected["probabilities"])
    for name, probability in expected["probabilities"].items():
        assert f"{100 * probability:.1f}%" in bars[name]
    assert page.evaluate("document.getElementById('heatmap').naturalWidth") == 224
    assert "Grad-CAM" in page.inner_text("#heatmap-caption")
    assert page.is_hidden("#error")
    shot = keep_screenshot(page, tmp_path, "serve_web_page.png")
    assert shot.stat().st_size > 10_000
    assert page.problems == []


def test_the_page_shows_clear_errors_for_a_wrong_key_and_a_non_image(page, server_url, tmp_path):
    page.goto(server_url)
    page.fill("#api-key", "not-the-key")
    page.click("#save-key")
    page.wait_for_selector("#error", state="visible")
    assert "401" in page.inner_text("#error-title") and "API key" in page.inner_text("#error-detail")

    page.fill("#api-key", KEY)
    page.click("#save-key")
    page.wait_for_selector("#model-card:not(.hidden)")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    page.set_input_files("#file-input", str(notes))
    page.wait_for_selector("#error", state="visible")
    assert "415" in page.inner_text("#error-title")
    assert "not a PNG, JPEG or DICOM image" in page.inner_text("#error-detail")
    keep_screenshot(page, tmp_path, "serve_web_page_error.png")
    assert [p for p in page.problems if "401" not in p and "415" not in p] == []  # the failed fetches are logged


def _log_in(page, server_url):
    page.goto(server_url)
    page.fill("#api-key", KEY)
    page.click("#save-key")
    page.wait_for_selector("#model-card:not(.hidden)")


def test_the_page_shows_no_answer_for_images_unlike_the_training_data(page, server_url, tmp_path):
    """A black image, noise and a colour photo sent to a grey model: the page says it abstains and why, and shows
    neither probability bars nor a heatmap."""
    import numpy as np
    from playwright.sync_api import expect

    colour = np.random.default_rng(1).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    colour[..., 0] = 200  # a reddish photo, not a grey image stored as RGB
    cases = {"black.png": np.zeros((64, 64), np.uint8),
             "noise.png": np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8),
             "photo.png": colour}
    _log_in(page, server_url)
    for name, pixels in cases.items():
        path = tmp_path / name
        path.write_bytes(png_bytes(pixels))
        page.set_input_files("#file-input", str(path))
        expect(page.locator("#status")).to_have_text("done: no answer", timeout=30_000)
        assert "outside the training distribution" in page.inner_text("#result-label")
        assert page.is_visible("#reasons") and page.inner_text("#reasons").strip()
        assert page.is_hidden("#probabilities") and page.is_hidden("#heatmap")
    keep_screenshot(page, tmp_path, "serve_web_page_abstain.png")
    assert page.problems == []


def test_the_page_explains_the_label_by_the_threshold(page, server_url, tmp_path):
    from playwright.sync_api import expect

    image_file = tmp_path / "scan.png"
    image_file.write_bytes(png_bytes(sample_images(1)[0]))
    expected = httpx.post(f"{server_url}/v1/predict", headers={"X-API-Key": KEY},
                          files={"file": (image_file.name, image_file.read_bytes())}).json()
    _log_in(page, server_url)
    page.set_input_files("#file-input", str(image_file))
    expect(page.locator("#status")).to_have_text("done", timeout=30_000)
    decision = page.inner_text("#decision")
    assert decision == expected["decision"] and f"threshold {expected['threshold']:.3f}" in decision
    assert f"{expected['threshold']:.3f}" in page.inner_text("#card-table")  # the rule on the card, rounded
    assert str(expected["threshold"]) not in page.inner_text("body")  # never the 17-digit float


def test_the_page_predicts_a_batch_of_files(page, server_url, tmp_path):
    from playwright.sync_api import expect

    files = []
    for index, image in enumerate(sample_images(3)):
        files.append(tmp_path / f"case{index}.png")
        files[-1].write_bytes(png_bytes(image))
    files.append(tmp_path / "notes.png")
    files[-1].write_bytes(b"not an image")
    _log_in(page, server_url)
    page.set_input_files("#file-input", [str(f) for f in files])
    expect(page.locator("#status")).to_have_text("done: 4 images", timeout=30_000)
    rows = page.inner_text("#batch-table").splitlines()
    assert sum(name in text for text in rows for name in ("case0.png", "case1.png", "case2.png", "notes.png")) == 4
    assert "unsupported_media_type" in page.inner_text("#batch-table")
    keep_screenshot(page, tmp_path, "serve_web_page_batch.png")
    assert page.problems == []
