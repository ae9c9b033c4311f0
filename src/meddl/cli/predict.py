"""`meddl predict`: class probabilities for image files or folders, with warnings for unusual inputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddl.cli.common import Subparsers


def cmd_predict(args: argparse.Namespace) -> int:
    from meddl.api import predict

    fmt = args.format or ("json" if args.output and args.output.suffix.lower() == ".json" else "csv")
    predictions, text = predict(args.checkpoint, args.inputs, strict=args.strict, output=args.output, format=fmt)
    for prediction in predictions:
        for warning in prediction.warnings:
            print(f"meddl: warning: {prediction.file}: {warning}", file=sys.stderr)
    failed = [prediction for prediction in predictions if prediction.error]
    for prediction in failed:
        print(f"meddl: error: {prediction.error}", file=sys.stderr)
    if args.output:
        print(f"predictions: {args.output}")
    else:
        sys.stdout.write(text)
    if failed:
        print(f"meddl: {len(failed)} of {len(predictions)} file(s) could not be read; the others are predicted "
              "(exit 1)", file=sys.stderr)
        return 1
    return 0


def register(commands: Subparsers) -> None:
    predict = commands.add_parser("predict", help="class probabilities for image files or folders")
    predict.add_argument("checkpoint", type=Path)
    predict.add_argument("inputs", nargs="+", type=Path, help="PNG/JPEG/DICOM/NIfTI files or folders of them")
    predict.add_argument("--output", "-o", type=Path, help="write CSV or JSON here (by suffix); default: stdout")
    predict.add_argument("--format", choices=["csv", "json"])
    predict.add_argument("--strict", action="store_true",
                         help="stop with an error (instead of a warning) on an input unlike the training images")
    predict.set_defaults(run=cmd_predict)
