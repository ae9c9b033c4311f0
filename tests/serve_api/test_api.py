"""The HTTP API as a client meets it: every endpoint, the API key, the size limit, and every kind of bad upload
answered with a 4xx JSON error (never a 500)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import write_dicom
from PIL import Image
from serve_helpers import (
    KEY,
    dicom_bytes,
    dicom_without_pixels,
    jpeg_bytes,
    png_bytes,
    raw_png,
    sample_images,
    served_model,
    trained_checkpoint,
)

from meddl.serve.app import create_app
from meddl.training.checkpoints import checkpoint_entry

AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    return served_model(tmp_path_factory, "onnx")


@pytest.fixture(scope="module")
def client(served):
    return TestClient(create_app(served, api_key=KEY))


@pytest.fixture(scope="module")
def image():
    return sample_images(1)[0]


def upload(client, data: bytes, name: str = "scan.png", path: str = "/v1/predict", headers=AUTH, **params):
    return client.post(path, files={"file": (name, data, "application/octet-stream")}, headers=headers,
                       params=params)


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"], body
    if code:
        assert body["error"] == code, body
    return body


# --- the endpoints ------------------------------------------------------------------------------------------


def test_health_and_page_need_no_key_and_the_page_loads_nothing_from_elsewhere(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)  # no CDN, no remote font
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"


def test_openapi_schema_lists_the_endpoints_and_the_key(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/explain", "/v1/model", "/healthz"} <= set(schema["paths"])
    scheme = next(iter(schema["components"]["securitySchemes"].values()))
    assert scheme == {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the server's API key"}
    assert client.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN


def test_openapi_schema_describes_the_error_responses_as_sent(client, image):
    """The schema documents the statuses the API really answers with, each with the {error, detail} body it sends."""
    schema = client.get("/openapi.json").json()
    ref = "#/components/schemas/ErrorBody"
    assert set(schema["components"]["schemas"]["ErrorBody"]["required"]) == {"error", "detail"}
    documented = {(path, method): operation["responses"] for path, item in schema["paths"].items()
                  for method, operation in item.items()}
    assert documented[("/v1/model", "get")]["401"]["content"]["application/json"]["schema"]["$ref"] == ref
    for path in ("/v1/predict", "/v1/explain"):
        for status in ("401", "413", "415", "422"):
            assert documented[(path, "post")][status]["content"]["application/json"]["schema"]["$ref"] == ref
    body = assert_json_error(upload(client, b"", path="/v1/predict"), 422)
    assert set(body) == {"error", "detail"}


def test_model_card_has_dataset_labels_metrics_with_cis_and_the_model_id(client, tmp_path_factory):
    card = client.get("/v1/model", headers=AUTH).json()
    checkpoint = trained_checkpoint(tmp_path_factory)
    assert card["dataset"] == "breastmnist" and card["task"] == "binary"
    assert card["labels"] == ["malignant", "normal, benign"]
    assert card["image_size"] == 28 and card["in_channels"] == 1
    low, high = card["metrics"]["ci"]["auc"]
    assert low <= card["metrics"]["auc"] <= high
    assert card["model_id"] == "sha256:" + hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    assert card["backend"] == "onnx" and "gradcam" in card["explain_methods"]
    assert "privacy" not in card  # trained without DP


def test_an_undefined_metric_is_sent_as_null(served):
    from dataclasses import replace

    nan = float("nan")
    metadata = {**served.metadata, "metrics": {"auc": nan, "ci": {"auc": [nan, float("inf")]}}}
    predictor = type("Predictor", (), {"metadata": metadata, "predict": staticmethod(served.predictor.predict)})()
    client = TestClient(create_app(replace(served, predictor=predictor), api_key=KEY))
    card = client.get("/v1/model", headers=AUTH).json()
    assert card["metrics"] == {"auc": None, "ci": {"auc": [None, None]}}


@pytest.mark.parametrize("kind", ["png", "jpeg", "dicom", "rgb-dicom", "rgba-png", "16-bit-png", "large-rgb-png"])
def test_predict_returns_probabilities_label_model_id_and_threshold(client, image, kind, tmp_path):
    data, name = {
        "png": lambda: (png_bytes(image), "a.png"),
        "jpeg": lambda: (jpeg_bytes(image), "a.jpg"),
        "dicom": lambda: (dicom_bytes(tmp_path, image), "a"),  # no suffix: recognised by its DICM marker
        "rgb-dicom": lambda: (write_dicom(tmp_path / "c.dcm", np.dstack([image] * 3), "RGB", 8).read_bytes(), "c.dcm"),
        "rgba-png": lambda: (png_bytes(np.dstack([image] * 3 + [np.full_like(image, 255)])), "a.png"),
        "16-bit-png": lambda: (png_bytes(image.astype(np.uint16) * 257), "a.png"),
        "large-rgb-png": lambda: (png_bytes(np.asarray(Image.fromarray(image).convert("RGB").resize((1024, 768)))),
                                  "a.png"),
    }[kind]()
    response = upload(client, data, name)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["probabilities"]) == {"malignant", "normal, benign"}
    assert sum(body["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    # the decision threshold tuned on validation data and stored in the checkpoint decides the label
    stored = checkpoint_entry(trained_checkpoint(None), "threshold")
    assert body["threshold"] == pytest.approx(stored) and stored != 0.5
    positive = body["probabilities"]["normal, benign"]  # the second label is the positive class
    assert body["label"] == ("normal, benign" if positive > stored else "malignant")
    assert body["model_id"].startswith("sha256:") and body["task"] == "binary"
    assert body["input"]["format"] == {"jpeg": "JPEG", "dicom": "DICOM", "rgb-dicom": "DICOM"}.get(kind, "PNG")


def test_predict_agrees_with_meddl_predict_and_the_torch_backend(client, image, tmp_path, tmp_path_factory):
    from meddl.api import predict

    path = tmp_path / "a.png"
    path.write_bytes(png_bytes(image))
    expected = predict(trained_checkpoint(tmp_path_factory), [path])[0]
    over_onnx = upload(client, path.read_bytes()).json()
    torch_client = TestClient(create_app(served_model(tmp_path_factory, "torch"), api_key=KEY))
    over_torch = upload(torch_client, path.read_bytes()).json()
    assert over_onnx["label"] == over_torch["label"] == expected.label
    for name, p in expected.probabilities.items():
        assert over_onnx["probabilities"][name] == pytest.approx(p, abs=1e-4)
        assert over_torch["probabilities"][name] == pytest.approx(p, abs=1e-5)
    assert torch_client.get("/v1/model", headers=AUTH).json()["backend"] == "torch"


@pytest.mark.parametrize("method", ["gradcam", "occlusion", None])
def test_explain_returns_a_heatmap_overlay_png(client, image, method):
    params = {"method": method} if method else {}
    response = upload(client, png_bytes(image), path="/v1/explain", **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-meddl-method"] == (method or "gradcam")
    overlay = Image.open(io.BytesIO(response.content))
    assert overlay.size == (224, 224)


def test_explain_for_a_named_class_and_refuses_unknown_ones(client, image):
    response = upload(client, png_bytes(image), path="/v1/explain", target="malignant")
    assert response.status_code == 200 and response.headers["x-meddl-target"] == "malignant"
    assert_json_error(upload(client, png_bytes(image), path="/v1/explain", target="cat"), 422, "invalid_target")
    assert_json_error(upload(client, png_bytes(image), path="/v1/explain", target="7"), 422, "invalid_target")
    # digits that are not ASCII: '²' and '①' pass str.isdigit but not int(); int() reads Arabic-Indic '١' as 1
    for odd in ("²", "①", "١", "9" * 5000):
        body = assert_json_error(upload(client, png_bytes(image), path="/v1/explain", target=odd), 422,
                                 "invalid_target")
        assert len(body["detail"]) < 300
    assert_json_error(upload(client, png_bytes(image), path="/v1/explain", method="lime"), 422, "invalid_request")
    assert_json_error(upload(client, png_bytes(image), path="/v1/explain", method=""), 422, "invalid_request")


def test_a_mistyped_query_parameter_is_refused_not_ignored(client, image):
    body = assert_json_error(upload(client, png_bytes(image), path="/v1/explain", methdo="occlusion"), 422,
                             "invalid_request")
    assert "'methdo'" in body["detail"] and "method, target" in body["detail"]
    assert_json_error(upload(client, png_bytes(image), threshold="0.2"), 422, "invalid_request")


def test_a_bare_onnx_file_explains_by_occlusion_through_onnx_runtime(tmp_path_factory, image):
    onnx_client = TestClient(create_app(served_model(tmp_path_factory, onnx_only=True), api_key=KEY))
    card = onnx_client.get("/v1/model", headers=AUTH).json()
    assert card["explain_methods"] == ["occlusion"] and card["dataset"] == "breastmnist"
    assert upload(onnx_client, png_bytes(image)).status_code == 200
    response = upload(onnx_client, png_bytes(image), path="/v1/explain")
    assert response.status_code == 200 and response.headers["x-meddl-method"] == "occlusion"
    assert Image.open(io.BytesIO(response.content)).size == (224, 224)
    body = assert_json_error(upload(onnx_client, png_bytes(image), path="/v1/explain", method="gradcam"), 422)
    assert "checkpoint" in body["detail"]


def test_occlusion_map_finds_the_pixels_a_model_depends_on():
    from meddl.serve.service import occlusion_map

    def predict(batch):  # "class 1" is the brightness of the top-left corner
        corner = batch[:, :7, :7, 0].mean(axis=(1, 2)) / 255
        return np.stack([1 - corner, corner], axis=1)

    image = np.zeros((28, 28, 1), dtype=np.uint8)
    image[:7, :7] = 255
    heat = occlusion_map(predict, image, target=1)
    assert heat.shape == (28, 28) and heat.dtype == np.float32 and heat.max() == pytest.approx(1)
    assert heat[:7, :7].mean() > 0.5 and heat[14:, 14:].max() == 0


# --- the API key --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}, {"X-API-Key": KEY[:-1]},
                                     {"X-API-Key": ""}, {"Authorization": f"Bearer {KEY}"},
                                     {"X-API-Key": KEY.encode() + b"\xe9"}])
def test_every_v1_endpoint_needs_the_right_key(client, image, headers):
    for response in (client.get("/v1/model", headers=headers),
                     upload(client, png_bytes(image), headers=headers),
                     upload(client, png_bytes(image), path="/v1/explain", headers=headers)):
        assert_json_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "ApiKey"


def test_the_key_comes_from_the_environment_or_is_generated(served, monkeypatch):
    monkeypatch.setenv("MEDDL_API_KEY", "from-env")
    app = create_app(served)
    assert app.state.api_key == "from-env" and not app.state.api_key_generated
    assert TestClient(app).get("/v1/model", headers={"X-API-Key": "from-env"}).status_code == 200
    monkeypatch.delenv("MEDDL_API_KEY")
    first, second = create_app(served), create_app(served)
    assert first.state.api_key_generated and len(first.state.api_key) >= 32
    assert first.state.api_key != second.state.api_key


def test_the_key_is_compared_in_constant_time(monkeypatch):
    import hmac

    from meddl.serve import security

    calls = []
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or a == b)
    assert security.key_matches("abc", "abc") and not security.key_matches("abd", "abc")
    assert not security.key_matches("abcdef", "abc") and not security.key_matches(None, "abc")
    assert len(calls) == 3 and all(len(a) == len(b) == 32 for a, b in calls)  # digests: same length always


# --- size limit, methods, unknown paths ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_client(served):
    """A server that accepts bodies up to 64 KiB."""
    return TestClient(create_app(served, api_key=KEY, max_upload_mb=1 / 16))


def test_a_body_over_the_limit_is_refused_with_413(small_client, image):
    assert upload(small_client, png_bytes(image)).status_code == 200  # under the limit
    big = png_bytes((np.random.default_rng(0).random((300, 300)) * 255).astype(np.uint8))
    assert len(big) > 64 * 1024
    body = assert_json_error(upload(small_client, big), 413, "payload_too_large")
    assert "65536" in body["detail"]


def test_a_streamed_body_is_counted_even_without_or_with_a_lying_content_length(small_client):
    chunks = lambda: (b"x" * 16384 for _ in range(8))  # noqa: E731
    multipart = {"content-type": "multipart/form-data; boundary=b", **AUTH}
    response = small_client.post("/v1/predict", content=chunks(), headers=multipart)  # chunked: no length
    assert "content-length" not in response.request.headers
    assert_json_error(response, 413, "payload_too_large")
    response = small_client.post("/v1/predict", content=b"--b\r\n" + b"x" * 200_000,
                                 headers={**multipart, "Content-Length": "100"})
    assert response.request.headers["content-length"] == "100"
    assert_json_error(response, 413, "payload_too_large")
    assert_json_error(small_client.post("/v1/predict", content=b"x", headers={**multipart, "Content-Length": "-1"}),
                      400, "bad_request")


def test_wrong_methods_and_unknown_paths_get_json_errors(client):
    assert_json_error(client.get("/v1/predict", headers=AUTH), 405, "method_not_allowed")
    assert_json_error(client.put("/v1/explain", headers=AUTH), 405, "method_not_allowed")
    assert_json_error(client.delete("/v1/model", headers=AUTH), 405, "method_not_allowed")
    assert_json_error(client.post("/healthz"), 405, "method_not_allowed")
    assert_json_error(client.get("/v1/nothing", headers=AUTH), 404, "not_found")
    assert_json_error(client.get("/v1/nothing"), 401)  # an unknown /v1/ path tells nothing without the key


# --- bad uploads --------------------------------------------------------------------------------------------


BOMB = raw_png(10_000, 10_000)  # 100 megapixels of zeros in ~100 KB: decoding would take 100 MB


def bad_uploads(tmp_path, image) -> dict[str, tuple[bytes, str, int, str]]:
    """name -> (bytes, file name, expected status, expected error code)."""
    png, jpeg = png_bytes(image), jpeg_bytes(image)
    dicom = dicom_bytes(tmp_path, image)
    huge_dicom = dicom_bytes(tmp_path, np.zeros((64, 64), np.uint8))
    huge_dicom = huge_dicom.replace(b"\x28\x00\x10\x00US\x02\x00\x40\x00", b"\x28\x00\x10\x00US\x02\x00\xff\xff")
    huge_dicom = huge_dicom.replace(b"\x28\x00\x11\x00US\x02\x00\x40\x00", b"\x28\x00\x11\x00US\x02\x00\xff\xff")
    return {
        "empty file": (b"", "a.png", 422, "empty_file"),
        "plain text": (b"patient: anonymous\n", "notes.txt", 415, "unsupported_media_type"),
        "text named .png": (b"not really a png", "a.png", 415, "unsupported_media_type"),
        "random bytes": (np.random.default_rng(1).bytes(3000), "a.bin", 415, "unsupported_media_type"),
        "PDF": (b"%PDF-1.7\n" + b"0" * 500, "report.pdf", 415, "unsupported_media_type"),
        "GIF": (_gif(image), "a.gif", 415, "unsupported_media_type"),
        "HTML/script": (b"<script>alert(1)</script>", "a.html", 415, "unsupported_media_type"),
        "truncated PNG": (png[: len(png) // 2], "a.png", 422, "invalid_image"),
        "PNG header only": (png[:33], "a.png", 422, "invalid_image"),
        "PNG signature only": (png[:8], "a.png", 422, "invalid_image"),
        "PNG with a corrupt IDAT": (png[:45] + bytes(30) + png[75:], "a.png", 422, "invalid_image"),
        "truncated JPEG": (jpeg[: len(jpeg) // 3], "a.jpg", 422, "invalid_image"),
        "JPEG marker only": (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "a.jpg", 422, "invalid_image"),
        "zero-width PNG": (raw_png(0, 28), "a.png", 422, "empty_image"),
        "zero-height PNG": (raw_png(28, 0, rows=1), "a.png", 422, "empty_image"),
        "4x4 PNG (too small)": (png_bytes(image[:4, :4]), "a.png", 422, "invalid_dimensions"),
        "20000x8 PNG (too long)": (raw_png(20_000, 8), "a.png", 422, "invalid_dimensions"),
        "decompression bomb (100 MP PNG)": (BOMB, "a.png", 422, "image_too_large"),
        "DICOM without pixels": (dicom_without_pixels(tmp_path), "report.dcm", 422, "no_pixel_data"),
        "DICOM claiming 65535x65535": (huge_dicom, "a.dcm", 422, "invalid_dimensions"),
        "truncated DICOM": (dicom[: len(dicom) - 700], "a.dcm", 422, "invalid_image"),
        "DICOM preamble only": (dicom[:132], "a.dcm", 422, "no_pixel_data"),
        "garbage named .dcm": (np.random.default_rng(2).bytes(2000), "a.dcm", 422, None),
    }


def _gif(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.mark.parametrize("case", [
    "empty file", "plain text", "text named .png", "random bytes", "PDF", "GIF", "HTML/script", "truncated PNG",
    "PNG header only", "PNG signature only", "PNG with a corrupt IDAT", "truncated JPEG", "JPEG marker only",
    "zero-width PNG", "zero-height PNG", "4x4 PNG (too small)", "20000x8 PNG (too long)",
    "decompression bomb (100 MP PNG)", "DICOM without pixels", "DICOM claiming 65535x65535", "truncated DICOM",
    "DICOM preamble only", "garbage named .dcm",
])
@pytest.mark.parametrize("path", ["/v1/predict", "/v1/explain"])
def test_bad_uploads_get_a_clear_4xx_json_error(client, image, tmp_path, case, path):
    data, name, status, code = bad_uploads(tmp_path, image)[case]
    start = time.perf_counter()
    body = assert_json_error(upload(client, data, name, path=path), status, code)
    assert time.perf_counter() - start < 5  # refused from the header, not after decoding
    assert "Traceback" not in body["detail"] and str(tmp_path) not in body["detail"]


def test_the_bomb_is_refused_before_decoding(client, monkeypatch):
    from meddl.serve import uploads

    monkeypatch.setattr(uploads, "_decode", lambda *a: pytest.fail("the bomb reached the decoder"))
    body = assert_json_error(upload(client, BOMB), 422, "image_too_large")
    assert "100000000 pixels" in body["detail"]


def test_requests_without_a_file_part_get_422_or_400(client):
    assert_json_error(client.post("/v1/predict", headers=AUTH), 422, "invalid_request")
    assert_json_error(client.post("/v1/predict", data={"file": "not a file"}, headers=AUTH), 422, "invalid_request")
    assert_json_error(client.post("/v1/predict", json={"image": "aGVsbG8="}, headers=AUTH), 422, "invalid_request")
    broken = client.post("/v1/predict", content=b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
                         headers={**AUTH, "content-type": "multipart/form-data; boundary=y"})
    assert 400 <= broken.status_code < 500 and set(broken.json()) == {"error", "detail"}


def test_an_unexpected_server_fault_is_a_json_500_without_internals(served, image, monkeypatch):
    app = create_app(served, api_key=KEY)
    monkeypatch.setattr(served.predictor, "predict", lambda images: (_ for _ in ()).throw(RuntimeError("secret")))
    response = upload(TestClient(app, raise_server_exceptions=False), png_bytes(image))
    body = assert_json_error(response, 500, "internal_error")
    assert "secret" not in body["detail"] and json.dumps(body).count("File ") == 0


# --- the command ----------------------------------------------------------------------------------------------


def test_meddl_serve_binds_to_loopback_and_prints_a_generated_key_once(tmp_path_factory, monkeypatch, capsys):
    import uvicorn

    from meddl.cli import main

    served_model(tmp_path_factory, "onnx")  # exports best.onnx beside the checkpoint
    onnx = trained_checkpoint(tmp_path_factory).with_suffix(".onnx")
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(app=app, **options))
    monkeypatch.delenv("MEDDL_API_KEY", raising=False)
    assert main(["serve", str(onnx), "--port", "8123", "--max-upload-mb", "2"]) == 0
    out = capsys.readouterr().out
    key = started["app"].state.api_key
    assert started["host"] == "127.0.0.1" and started["port"] == 8123
    assert out.count(key) == 1 and "generated" in out
    client = TestClient(started["app"])
    assert client.get("/v1/model", headers={"X-API-Key": key}).json()["explain_methods"] == ["occlusion"]
    assert_json_error(upload(client, b"x" * (3 * 1024 * 1024), headers={"X-API-Key": key}), 413)

    assert main(["serve", str(onnx), "--api-key", "chosen"]) == 0
    assert "chosen" not in capsys.readouterr().out  # a key the user chose is never echoed
    assert main(["serve", str(onnx), "--backend", "torch"]) == 2
    assert "ONNX Runtime only" in capsys.readouterr().err


# --- answers a clinician can rely on --------------------------------------------------------------------------

def test_images_unlike_the_training_data_get_no_answer(client):
    """The same input guards as `meddl predict`: a blank image, noise and a colour photo sent to a grey model each
    get an explicit abstention (no label) with the reasons, instead of a confident class."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    photo[..., 0] = 200
    for name, pixels, reason in (("black.png", np.zeros((64, 64), np.uint8), "blank"),
                                 ("noise.png", rng.integers(0, 256, size=(64, 64), dtype=np.uint8), "roughness"),
                                 ("photo.png", photo, "RGB")):
        body = upload(client, png_bytes(pixels), name).json()
        assert body["abstained"] is True and body["label"] is None, (name, body)
        assert any(reason in text for text in body["reasons"]), (name, body["reasons"])
        assert "outside the training distribution" in body["decision"]


def test_real_images_are_answered_and_the_decision_names_the_threshold(client, served):
    threshold = served.metadata["decision_threshold"]
    for image in sample_images(8):
        body = upload(client, png_bytes(image)).json()
        assert body["abstained"] is False and body["reasons"] == [] and body["label"]
        positive = body["probabilities"]["normal, benign"]
        relation = "is above" if positive > threshold else "is not above"
        assert body["decision"] == (f"p(normal, benign) = {positive:.3f} {relation} the threshold {threshold:.3f} "
                                    f"(tuned on the validation split, youden), so {body['label']}")
        assert body["threshold_source"] == "tuned on the validation split, youden"


def test_a_batch_gets_one_answer_or_error_per_file(client):
    images = sample_images(3)
    files = [("files", ("a.png", png_bytes(images[0]))), ("files", ("bad.png", b"junk")),
             ("files", ("c.jpg", jpeg_bytes(images[2]))), ("files", ("black.png", png_bytes(np.zeros((32, 32),
                                                                                               np.uint8))))]
    response = client.post("/v1/predict/batch", files=files, headers=AUTH)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [item["file"] for item in results] == ["a.png", "bad.png", "c.jpg", "black.png"]
    single = upload(client, png_bytes(images[0]), "a.png").json()
    assert results[0]["result"] == single and results[0]["error"] is None
    assert results[1]["result"] is None and results[1]["error"] == "unsupported_media_type"
    assert results[2]["result"]["input"]["format"] == "JPEG"
    assert results[3]["result"]["abstained"] is True
    too_many = [("files", (f"{i}.png", png_bytes(images[0]))) for i in range(33)]
    assert_json_error(client.post("/v1/predict/batch", files=too_many, headers=AUTH), 422, "too_many_files")


def test_the_model_card_travels_inside_the_checkpoint(tmp_path, tmp_path_factory):
    """A checkpoint copied away from its run folder keeps its test metrics, including those at the deployed
    threshold, on the model card (they were read from ../metrics.json before)."""
    import shutil

    copied = tmp_path / "elsewhere" / "model.ckpt"
    copied.parent.mkdir()
    shutil.copy(trained_checkpoint(tmp_path_factory), copied)
    card = TestClient(create_app(copied, api_key=KEY, backend="torch")).get("/v1/model", headers=AUTH).json()
    run = json.loads((trained_checkpoint(tmp_path_factory).parent.parent / "metrics.json").read_text())
    assert card["metrics"]["split"] == "test" and card["metrics"]["auc"] == pytest.approx(run["test"]["auc"])
    assert card["metrics"]["ci"]["auc"] == pytest.approx(run["test"]["ci"]["auc"])
    if "operating_point" in run["test"]:
        assert card["metrics"]["operating_point"] == run["test"]["operating_point"]
    assert card["threshold_source"] == "tuned on the validation split, youden"
    assert card["input_stats"]["channels"] == 1 and "roughness" in card["input_stats"]
