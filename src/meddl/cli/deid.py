"""`meddl deid`: de-identify a folder of DICOM files (PS3.15 Annex E Basic Profile)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddl.cli.common import Subparsers


def cmd_deid(args: argparse.Namespace) -> None:
    from meddl.api import deid

    result = deid(args.input_dir, args.output_dir, shift_dates=args.shift_dates, key=args.key,
                  progress=not args.quiet)
    for line in result.warnings():
        print(f"meddl: {line}", file=sys.stderr)
    print(result.summary())


def register(commands: Subparsers) -> None:
    deid = commands.add_parser("deid", help="de-identify a folder of DICOM files (PS3.15 Annex E Basic Profile)")
    deid.add_argument("input_dir", type=Path, help="folder of DICOM files (searched recursively)")
    deid.add_argument("output_dir", type=Path, help="where the de-identified tree and meddl_deid_log.csv go; "
                      "must lie outside the input folder")
    deid.add_argument("--shift-dates", action="store_true",
                      help="move each patient's dates back by one keyed offset (intervals kept) instead of removing")
    deid.add_argument("--key", help="secret that makes new UIDs, pseudonyms and date offsets repeat across runs "
                      "(default: a random key for this run only)")
    deid.set_defaults(run=cmd_deid)
