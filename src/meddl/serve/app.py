"""The HTTP API and web page: `create_app` builds the FastAPI app, `run_server` serves it with uvicorn.

    GET  /            the web page (no key needed; it asks for the key and sends it with each call)
    GET  /healthz     liveness (no key needed)
    GET  /v1/model    the model card: dataset, labels, task, test metrics with 95% CIs, privacy (epsilon) if any
    POST /v1/predict  multipart `file` (PNG, JPEG or DICOM) -> label (none when the image is unlike the training
                      images: abstained, with the reasons), the decision in words, probabilities, threshold
    POST /v1/predict/batch  multipart `files` (up to 32) -> one answer or error per file
    POST /v1/explain  multipart `file` [?method=gradcam&target=label] -> heatmap overlay PNG
    GET  /openapi.json

Every /v1/ call needs the `X-API-Key` header. Every error is JSON ``{"error": code, "detail": sentence}``: 4xx for
anything the client sent (bad key, too large, not an image, a decompression bomb), 500 only for a server fault.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from meddl.errors import MeddlError
from meddl.serve.security import (
    API_KEY_HEADER,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    key_matches,
    resolve_api_key,
)
from meddl.serve.service import ServedModel, load_served_model
from meddl.serve.uploads import MAX_PIXELS, UploadError, read_upload

DEFAULT_MAX_UPLOAD_MB = 20
OVERLAY_SIZE = 224
ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_request", 500: "internal_error"}
log = logging.getLogger("meddl.serve")


class PredictResponse(BaseModel):
    """One image's answer. `abstained` answers carry no label: the image is unlike the training images (`reasons`
    say how), so its probabilities are no diagnosis; `decision` says in words how the label follows from them."""

    label: str | None
    abstained: bool
    reasons: list[str]
    decision: str
    probabilities: dict[str, float]
    model_id: str
    threshold: float | list[float]
    threshold_source: str
    task: str
    input: dict


class BatchItem(BaseModel):
    """One file of a batch: its answer (as /v1/predict gives it), or the error that file alone met."""

    file: str
    result: PredictResponse | None = None
    error: str | None = None
    detail: str | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


class ErrorBody(BaseModel):
    """Every error the API sends: a short machine code and a sentence for a person."""

    error: str
    detail: str


def _errors(*statuses: int) -> dict:
    """OpenAPI response entries for these error statuses, all with the `ErrorBody` the handlers really send."""
    meaning = {400: "a request body that is not valid multipart form data", 401: "missing or wrong X-API-Key header", 413: "request body over the upload limit",
               415: "not a PNG, JPEG or DICOM image", 422: "an image or a parameter that cannot be used (the detail "
               "says which: empty, corrupt, too large, no pixel data, unknown class, method or query parameter)"}
    return {status: {"model": ErrorBody, "description": meaning[status]} for status in statuses}


# The multipart `file` part's media types, stated in the schema so that a client (or a schema fuzzer) knows an
# upload must be an image of these types, not any bytes.
UPLOAD_MEDIA_TYPES = "image/png, image/jpeg, application/dicom"
_UPLOAD_ENCODING = {"requestBody": {"content": {"multipart/form-data": {
    "encoding": {"file": {"contentType": UPLOAD_MEDIA_TYPES}}}}}}
MAX_BATCH = 32  # files per /v1/predict/batch request; each is decoded in turn, in the same decoding slots


def error(status: int, code: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _page() -> tuple[str, str]:
    """The page and a Content-Security-Policy that allows exactly its own inline script and style, nothing else."""
    html = resources.files("meddl.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies)

    policy = (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
              "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    return html, policy


def create_app(
    model: str | Path | ServedModel,
    api_key: str | None = None,
    backend: str = "onnx",
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_pixels: int = MAX_PIXELS,
) -> FastAPI:
    """The FastAPI app serving `model` (a .ckpt, a .onnx, or an already loaded `ServedModel`).

    `api_key` defaults to $MEDDL_API_KEY, else a random key (read it back from ``app.state.api_key``).
    """
    served = model if isinstance(model, ServedModel) else load_served_model(model, backend)
    key, generated = resolve_api_key(api_key)
    html, policy = _page()
    app = FastAPI(title="meddl", version="1", docs_url=None, redoc_url=None,
                  description=f"Medical image classifier {served.metadata.get('model')} trained on "
                              f"{served.metadata.get('dataset')}. Send the API key in the {API_KEY_HEADER} header.")
    app.state.served, app.state.api_key, app.state.api_key_generated = served, key, generated
    app.add_middleware(BodyLimitMiddleware, max_bytes=int(max_upload_mb * 1024 * 1024))
    app.add_middleware(ApiKeyMiddleware, api_key=key)  # before the body limit: a request without the key is never read
    app.add_middleware(SecurityHeadersMiddleware)
    _add_error_handlers(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the server's API key")

    def require_key(given: str | None = Security(header)) -> None:  # the middleware has checked; this documents
        if not key_matches(given, key):
            raise HTTPException(401, f"missing or wrong {API_KEY_HEADER} header")

    v1 = APIRouter(prefix="/v1", dependencies=[Security(require_key)])

    @v1.get("/model", responses=_errors(401, 422), dependencies=[_query_only()])
    def model_card() -> dict:
        return served.card()

    @v1.post("/predict", response_model=PredictResponse, responses=_errors(400, 401, 413, 415, 422),
             openapi_extra=_UPLOAD_ENCODING, dependencies=[_query_only()])
    def predict(file: UploadFile = File(..., description="PNG, JPEG or DICOM image")) -> dict:
        return _answer(served, read_upload(file.file, file.filename or "", max_pixels, served.prepare))

    @v1.post("/predict/batch", response_model=BatchResponse, responses=_errors(400, 401, 413, 422),
             dependencies=[_query_only()])
    def predict_batch(files: list[UploadFile] = File(..., description=f"1 to {MAX_BATCH} PNG, JPEG or DICOM "
                                                     "images (the upload limit is for all); a file that is not "
                                                     "one gets its error in its own result",
                                                     json_schema_extra={"minItems": 1, "maxItems": MAX_BATCH})):
        if len(files) > MAX_BATCH:
            raise UploadError(422, "too_many_files", f"{len(files)} files sent; a batch takes at most {MAX_BATCH}")
        results = []
        for item in files:
            name = item.filename or "upload"
            try:
                results.append({"file": name, "result": _answer(served, read_upload(item.file, name, max_pixels,
                                                                                    served.prepare))})
            except UploadError as problem:  # one bad file does not sink the others
                results.append({"file": name, "error": problem.error, "detail": problem.detail})
        return {"results": results}

    @v1.post("/explain", response_class=Response,
             responses={200: {"content": {"image/png": {}}}, **_errors(400, 401, 413, 415, 422)},
             openapi_extra=_UPLOAD_ENCODING, dependencies=[_query_only("method", "target")])
    def explain(
        file: UploadFile = File(..., description="PNG, JPEG or DICOM image"),
        method: str | None = Query(None, description=f"explanation method (default {served.explain_methods[0]})",
                                   json_schema_extra={"enum": list(served.explain_methods)}),
        target: str | None = Query(None, description="class name or index (default: the predicted class)",
                                   json_schema_extra={"enum": _target_names(served)}),
    ) -> Response:
        from meddl.explain import overlay_png

        prepared = read_upload(file.file, file.filename or "", max_pixels, served.prepare).pixels
        index = _target_index(target, served) if target is not None else served.predict(prepared).index
        chosen = served.explain_methods[0] if method is None else method
        image = prepared.image
        heatmap = served.explain(image, chosen, index)
        name = served.metadata["labels"][index]
        return Response(overlay_png(image, heatmap, size=OVERLAY_SIZE), media_type="image/png",
                        headers={"X-Meddl-Method": chosen, "X-Meddl-Target": quote(name),
                                 "X-Meddl-Model-Id": served.model_id})

    app.include_router(v1)
    return app


def _answer(served: ServedModel, decoded) -> dict:
    """The /v1/predict body for one decoded and prepared upload."""
    outcome = served.predict(decoded.pixels)
    return {"label": outcome.label, "abstained": outcome.abstained, "reasons": list(outcome.reasons),
            "decision": outcome.decision, "probabilities": outcome.probabilities, "model_id": served.model_id,
            "threshold": served.metadata.get("decision_threshold", 0.5),
            "threshold_source": served.metadata.get("threshold_source", "the default 0.5"),
            "task": served.metadata["task"],
            "input": {"format": decoded.format, "width": decoded.width, "height": decoded.height,
                      "channels": decoded.channels}}


def _query_only(*known: str):
    """A dependency refusing query parameters the endpoint does not have: `?methdo=occlusion` must not silently
    mean the default method."""
    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(known))
        if unknown:
            expected = f"expected {', '.join(known)}" if known else "this endpoint takes none"
            raise UploadError(422, "invalid_request", f"unknown query parameter {unknown[0][:40]!r}; {expected}")

    return Depends(check)


def _target_names(served: ServedModel) -> list[str]:
    """What `?target=` accepts: each class name, and each class index in ASCII digits."""
    labels = [str(label) for label in served.metadata["labels"]]
    return labels + [str(index) for index in range(len(labels)) if str(index) not in labels]


def _target_index(target: str, served: ServedModel) -> int:
    labels = list(served.metadata["labels"])
    if target in labels:
        return labels.index(target)
    # ASCII digits only: str.isdigit also accepts '²' and '①' (int() then fails) and int() reads Arabic-Indic digits
    if re.fullmatch(r"[0-9]{1,6}", target) and int(target) < len(labels):
        return int(target)
    shown = target if len(target) <= 40 else target[:40] + "..."
    raise UploadError(422, "invalid_target", f"target {shown!r} is not a class of this model; expected one of "
                      f"{', '.join(labels)} or an index below {len(labels)}")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UploadError)
    async def upload_error(request, exc: UploadError):
        return error(exc.status, exc.error, exc.detail)

    @app.exception_handler(MeddlError)
    async def meddl_error(request, exc: MeddlError):  # e.g. an unknown explanation method
        return error(422, "invalid_request", str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return error(exc.status_code, ERROR_CODES.get(exc.status_code, "error"), str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error(422, "invalid_request", problems)

    @app.exception_handler(Exception)
    async def server_error(request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, "internal_error", f"unexpected server error ({type(exc).__name__}); see the server log")


def run_server(
    model: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    backend: str = "onnx",
) -> None:
    """Serve `model` with uvicorn until interrupted; prints the URL, and the API key once if it was generated."""
    import uvicorn

    app = create_app(model, api_key=api_key, backend=backend, max_upload_mb=max_upload_mb)
    served = app.state.served
    print(f"meddl: serving {served.path.name} ({served.model_id}, predictions on {served.backend}) at "
          f"http://{host}:{port}/  (API at /v1/, schema at /openapi.json)", flush=True)
    if app.state.api_key_generated:
        print(f"meddl: API key (generated for this run; fix one with --api-key or $MEDDL_API_KEY): "
              f"{app.state.api_key}", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("meddl: warning: plain HTTP on a non-loopback address; put a TLS proxy in front of it", flush=True)
    uvicorn.run(app, **server_options(host, port))


def server_options(host: str, port: int) -> dict:
    """uvicorn's settings for meddl's server: connections, keep-alive, and connections that never send their
    headers dropped after `HEADER_TIMEOUT_S` (see `meddl.serve.connections`). 512 connections: an idle one costs a
    few KB, and memory is bounded where it is spent (decoding slots, `meddl.serve.uploads.DECODE_SLOTS`); at 64,
    64 silent sockets answered everyone 503 until the header timeout dropped them."""
    from meddl.serve.connections import HeaderTimeoutProtocol

    return {"host": host, "port": port, "log_level": "info", "server_header": False, "limit_concurrency": 512,
            "timeout_keep_alive": 5, "http": HeaderTimeoutProtocol}
