"""What stands between the network and the model: the API key and the request-size limit.

Both are plain ASGI middleware so that they act before FastAPI reads a byte of the body: a request without the
right key, or one larger than the limit, is answered at once instead of after a 20 MB upload has been parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets

from starlette.exceptions import HTTPException

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "MEDDL_API_KEY"
PROTECTED_PREFIX = "/v1/"
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
                    "x-frame-options": "DENY", "cache-control": "no-store"}


def resolve_api_key(api_key: str | None = None) -> tuple[str, bool]:
    """The key to require: the one given, else $MEDDL_API_KEY, else a new random one. Returns (key, generated)."""
    key = api_key or os.environ.get(API_KEY_ENV) or ""
    if key:
        return key, False
    return secrets.token_urlsafe(24), True


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of SHA-256 digests: the time taken reveals neither a matching prefix nor the key's
    length (and a non-ASCII header cannot raise)."""
    if not given:
        return False
    digest = lambda text: hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()  # noqa: E731
    return hmac.compare_digest(digest(given), digest(expected))


def error_body(error: str, detail: str) -> bytes:
    return json.dumps({"error": error, "detail": detail}).encode()


async def send_json_error(send, status: int, error: str, detail: str, headers: dict | None = None) -> None:
    body = error_body(error, detail)
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class ApiKeyMiddleware:
    """401 for any /v1/ request without the right `X-API-Key` header, before the body is read."""

    def __init__(self, app, api_key: str):
        self.app, self.api_key = app, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            if not key_matches(_header(scope, API_KEY_HEADER.lower().encode()), self.api_key):
                await send_json_error(send, 401, "unauthorized", f"missing or wrong {API_KEY_HEADER} header",
                                      {"WWW-Authenticate": "ApiKey"})
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from inside `receive` when the streamed body passes the limit; FastAPI re-raises HTTPExceptions
    met while parsing a body, so it reaches the app's handler and becomes a JSON 413."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than the limit of {limit} bytes")


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`: at once when Content-Length says so, and otherwise as soon as the bytes
    actually received pass the limit (a chunked body, or a Content-Length that lies)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_json_error(send, 400, "bad_request", f"invalid Content-Length header {declared!r}")
                return
            if int(declared) > self.max_bytes:
                await send_json_error(send, 413, "payload_too_large",
                                      f"request body of {int(declared)} bytes is larger than the limit of "
                                      f"{self.max_bytes} bytes")
                return
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as error:  # read outside FastAPI's body parsing: answer here
            if started:
                raise
            await send_json_error(send, 413, "payload_too_large", error.detail)


class SecurityHeadersMiddleware:
    """No MIME sniffing, no framing, no referrer, no caching (answers may describe patients) on every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)
