"""`meddl serve`: the HTTP API (with an API key) and its web page."""

from __future__ import annotations

import argparse
from pathlib import Path

from meddl.cli.common import Subparsers


def cmd_serve(args: argparse.Namespace) -> None:
    from meddl.api import serve

    serve(args.model, host=args.host, port=args.port, api_key=args.api_key, max_upload_mb=args.max_upload_mb,
          backend=args.backend)


def register(commands: Subparsers) -> None:
    serve = commands.add_parser("serve", help="serve a model over HTTP: JSON API with an API key, and a web page")
    serve.add_argument("model", type=Path, help="a meddl checkpoint (.ckpt) or ONNX export (.onnx)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", help="key clients send as X-API-Key (default $MEDDL_API_KEY, else a printed one)")
    serve.add_argument("--max-upload-mb", type=float, default=20, help="largest request body accepted (default 20)")
    serve.add_argument("--backend", default="onnx", choices=["onnx", "torch"],
                       help="run predictions on ONNX Runtime (default) or eager PyTorch (checkpoints only)")
    serve.set_defaults(run=cmd_serve)
