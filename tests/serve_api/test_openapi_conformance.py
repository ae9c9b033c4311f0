"""The API does what /openapi.json says: schemathesis generates requests from the schema and runs all its checks.

Every documented operation gets schema-conforming requests (each must be answered as documented; an upload the
schema calls valid must not be refused unless the refusal is documented) and deliberately wrong ones (each must
be refused with a 4xx). The checks are all of schemathesis's built-ins: no 5xx, status codes, content types,
headers and bodies as documented, positive data accepted, negative data rejected, missing auth refused.
(Driven through Hypothesis directly: schemathesis's pytest fixture loader does not run under pytest 9.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode
from hypothesis import strategies as st
from serve_helpers import KEY, dicom_bytes, jpeg_bytes, png_bytes, sample_images, served_model

from meddl.serve.app import create_app

CASES = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    """The app's schema, with each media type its uploads declare generated as real images of that type."""
    images = list(sample_images(8))
    folder = tmp_path_factory.mktemp("schema_uploads")
    grey_or_rgb = st.sampled_from(images).flatmap(lambda image: st.sampled_from([image, image[:, :, None].repeat(3, 2)]))
    schemathesis.openapi.media_type("image/png", grey_or_rgb.map(png_bytes))
    schemathesis.openapi.media_type("image/jpeg", grey_or_rgb.map(jpeg_bytes))
    schemathesis.openapi.media_type("application/dicom", st.sampled_from([dicom_bytes(folder, i) for i in images]))
    app = create_app(served_model(tmp_path_factory, "onnx"), api_key=KEY)
    # the key as the schema's security scheme: negative cases then break the request, not just leave out the key
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"APIKeyHeader": {"api_key": KEY}}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def all_checks() -> list:
    st_checks.load_all_checks()
    return [st_checks.CHECKS.get_one(name) for name in st_checks.CHECKS.get_all_names()]


def operations(api_schema) -> list:
    return [result.ok() for result in api_schema.get_all_operations()]


def test_schema_lists_every_endpoint(api_schema):
    assert {(op.method.upper(), op.path) for op in operations(api_schema)} == {
        ("GET", "/healthz"), ("GET", "/v1/model"), ("POST", "/v1/predict"), ("POST", "/v1/predict/batch"),
        ("POST", "/v1/explain")}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_operation_passes_all_checks(api_schema, mode):
    checks = all_checks()
    for operation in operations(api_schema):
        if mode is GenerationMode.NEGATIVE and not (list(operation.iter_parameters()) or list(operation.body)):
            continue  # nothing in the request to get wrong (GET /healthz, GET /v1/model)
        # A batch answers a file that is not an image with that file's error inside its 200 body (one bad file
        # does not sink the others), so a malformed item is not a rejected request there: by design, not by lapse.
        chosen = [c for c in checks if not (operation.path == "/v1/predict/batch"
                                            and c is st_checks.CHECKS.get_one("negative_data_rejection"))]

        @CASES
        @given(operation.as_strategy(generation_mode=mode))
        def run(case):
            case.call_and_validate(checks=chosen)

        run()
