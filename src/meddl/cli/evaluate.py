"""`meddl evaluate`: score a checkpoint on a split of its dataset (or another) and write metrics and a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from meddl.cli.common import Subparsers, print_result


def cmd_evaluate(args: argparse.Namespace) -> None:
    from meddl.api import evaluate

    # progress: the GAN evaluation's stage messages and classifier trainings (a classifier's evaluation has none)
    quiet = {"progress": False} if args.quiet else {}
    result = evaluate(args.checkpoint, args.output_dir, dataset=args.dataset, data_dir=args.data_dir,
                      split=args.split, n_bootstrap=args.bootstrap, force=args.force, **quiet)
    print_result(result)


def register(commands: Subparsers) -> None:
    evaluate = commands.add_parser("evaluate", help="evaluate a checkpoint and write metrics and a report")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--dataset", help="dataset to evaluate on (default: the one it was trained on)")
    evaluate.add_argument("--data-dir", type=Path)
    evaluate.add_argument("--split", choices=["train", "val", "test", "all"],
                          help="default: test on the training dataset; all (every image) on another one")
    evaluate.add_argument("--output-dir", type=Path, help="default: RUN/evaluate-SPLIT next to the checkpoints")
    evaluate.add_argument("--bootstrap", type=int, default=1000)
    evaluate.add_argument("--force", action="store_true",
                          help="evaluate even if the data differs from what the checkpoint was trained with")
    evaluate.set_defaults(run=cmd_evaluate)
