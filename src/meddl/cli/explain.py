"""`meddl explain`: heatmaps of where the model looked, as overlay PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path

from meddl.cli.common import Subparsers


def cmd_explain(args: argparse.Namespace) -> None:
    from meddl.api import explain

    results = explain(args.checkpoint, args.inputs, method=args.method, output_dir=args.output_dir,
                      target=args.target, progress=not args.quiet)
    print(f"explained {len(results)} image(s) with {args.method}")
    print(f"overlays: {args.output_dir}")
    print(f"summary:  {args.output_dir / 'explanations.csv'}")


def register(commands: Subparsers) -> None:
    from meddl.api import EXPLAIN_METHODS as METHODS

    explain = commands.add_parser("explain", help="heatmaps of where the model looked, as overlay PNGs")
    explain.add_argument("checkpoint", type=Path)
    explain.add_argument("inputs", nargs="+", type=Path, help="PNG/JPEG/DICOM/NIfTI files or folders of them")
    explain.add_argument("--method", default="gradcam", help=f"one of {', '.join(METHODS)} (default gradcam)")
    explain.add_argument("--target", help="class name or index to explain (default: each image's predicted class)")
    explain.add_argument("--output-dir", type=Path, default=Path("explanations"),
                         help="where overlays and explanations.csv/.json go (default ./explanations)")
    explain.set_defaults(run=cmd_explain)
