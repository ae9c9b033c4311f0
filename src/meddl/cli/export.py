"""`meddl export`: one ONNX file taking raw pixels, verified against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from meddl.cli.common import Subparsers


def cmd_export(args: argparse.Namespace) -> None:
    from meddl.api import export

    result = export(args.checkpoint, args.output, format=args.format)
    print(f"exported: {result.path}")
    print(f"verified: ONNX Runtime vs PyTorch max abs difference {result.max_abs_diff:.2e}")


def register(commands: Subparsers) -> None:
    export = commands.add_parser("export", help="export a checkpoint for deployment (ONNX), verified against PyTorch")
    export.add_argument("checkpoint", type=Path)
    export.add_argument("--format", default="onnx", help="onnx (the graph takes pixels 0..255, returns probabilities)")
    export.add_argument("--output", "-o", type=Path, help="default: CHECKPOINT with the format's suffix, beside it")
    export.set_defaults(run=cmd_export)
