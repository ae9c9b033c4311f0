"""Fuzzing the upload path: random bytes and mutated PNG, JPEG and DICOM files never make the server fail.

Every answer must be a 200 with probabilities or a 4xx JSON error; the TestClient re-raises any exception the
app lets escape, so a crash fails the test with its traceback.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_helpers import KEY, dicom_bytes, jpeg_bytes, png_bytes, sample_images, served_model

from meddl.serve.app import create_app

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return TestClient(create_app(served_model(tmp_path_factory, "onnx"), api_key=KEY))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    image = sample_images(1)[0]
    folder = tmp_path_factory.mktemp("fuzz_seeds")
    return [png_bytes(image), jpeg_bytes(image), dicom_bytes(folder, image), png_bytes(image[:, :, None].repeat(3, 2))]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid file with bytes overwritten, a piece cut out or repeated, and/or its tail cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 64)))
        data[start:end] = bytes(data[start:end]) * draw(st.sampled_from([0, 2, 50]))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def uploads(seeds):
    header_prefixed = st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\x00" * 128 + b"DICM"]).flatmap(
        lambda head: st.binary(max_size=600).map(lambda tail: head + tail))
    return st.tuples(st.one_of(st.binary(max_size=2000), header_prefixed, mutated(seeds)),
                     st.sampled_from(["x.png", "x.jpg", "x.dcm", "x", ""]))


def check(response) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        assert abs(sum(body["probabilities"].values()) - 1) < 1e-4
    else:
        assert 400 <= response.status_code < 500 and set(body) == {"error", "detail"}


def test_predict_never_fails_on_random_or_mutated_files(client, seeds):
    @FUZZ
    @given(uploads(seeds))
    def run(upload):
        data, name = upload
        check(client.post("/v1/predict", files={"file": (name, data)}, headers={"X-API-Key": KEY}))

    run()


def test_explain_never_fails_on_mutated_files(client, seeds):
    @settings(FUZZ, max_examples=40)
    @given(mutated(seeds))
    def run(data):
        response = client.post("/v1/explain", files={"file": ("x.png", data)}, headers={"X-API-Key": KEY})
        assert response.status_code < 500, response.text
        assert response.status_code == 200 or set(response.json()) == {"error", "detail"}

    run()
