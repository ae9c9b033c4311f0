"""A connection that never completes its request headers is dropped after the header timeout, while ordinary
requests are served: half-open sockets cannot hold every slot of the server."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from meddl.serve.app import server_options
from meddl.serve.connections import HeaderTimeoutProtocol


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(HeaderTimeoutProtocol, "header_timeout_s", 0.5)
    app = FastAPI()
    app.get("/healthz")(lambda: {"status": "ok"})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = server_options("127.0.0.1", port) | {"log_level": "warning"}
    running = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    yield port
    running.should_exit = True
    thread.join(timeout=5)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False


def test_silent_and_half_sent_connections_are_closed_and_requests_still_served(server):
    silent = socket.create_connection(("127.0.0.1", server))
    partial = socket.create_connection(("127.0.0.1", server))
    partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the blank line that ends the headers never comes
    with socket.create_connection(("127.0.0.1", server)) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        client.settimeout(5)
        assert b"200 OK" in client.recv(4096)
    assert _closed_within(silent, 3) and _closed_within(partial, 3)
    silent.close()
    partial.close()
