"""`meddl data verify`: counts, constant images, duplicates and patients shared between splits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddl.cli.common import Subparsers, data_options


def cmd_data_verify(args: argparse.Namespace) -> int:
    from meddl.api import verify_data

    output = args.output or Path("runs") / "verify" / f"{Path(args.dataset).stem}.json"
    report = verify_data(args.dataset, data_dir=args.data_dir, output=output, near_threshold=args.near_bits,
                         near_mad=args.near_mad, options=data_options(args.option or []))
    print(report.format())
    print(f"report: {output}")
    if report.leakage and not args.warn_only:
        print("meddl: leakage between splits (exit 1; --warn-only to exit 0)", file=sys.stderr)
        return 1
    return 0


def register(commands: Subparsers) -> None:
    data = commands.add_parser("data", help="check a dataset: counts, constant images, duplicates, leakage")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    verify = data_commands.add_parser(
        "verify", help="counts per split and class, constant/all-zero images, duplicates and patients across splits; "
        "exits 1 on leakage")
    verify.add_argument("dataset", help="registered name or a path to your own data")
    verify.add_argument("--data-dir", type=Path)
    verify.add_argument("--output", "-o", type=Path, help="JSON report (default runs/verify/DATASET.json)")
    verify.add_argument("--warn-only", action="store_true", help="report leakage but exit 0")
    verify.add_argument("--near-bits", type=int, default=4,
                        help="near-duplicate candidates: perceptual hashes within this many of 64 bits (default 4)")
    verify.add_argument("--near-mad", type=float, default=2.0,
                        help="near-duplicate confirmed: mean pixel difference at most this many grey levels (default 2)")
    verify.add_argument("--option", "-O", action="append", metavar="KEY=VALUE", help="ECG/text loader option")
    verify.set_defaults(run=cmd_data_verify)
