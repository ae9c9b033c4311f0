"""`meddl gan train|sample|evaluate`: GAN image synthesis."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddl.cli.common import Subparsers


def cmd_gan_train(args: argparse.Namespace) -> None:
    from meddl.api import synthesize

    output_dir = args.output_dir or Path("runs") / f"gan-{Path(args.dataset).stem}"
    options = {key: getattr(args, key) for key in ("epochs", "batch_size", "lr_g", "lr_d", "loss", "latent_dim",
                                                   "seed", "sample_every", "max_minutes")
               if getattr(args, key) is not None}
    if args.unconditional:
        options["conditional"] = False
    result = synthesize(args.dataset, output_dir, data_dir=args.data_dir, resume=args.resume,
                        overwrite=args.overwrite, progress=not args.quiet, **options)
    collapse = result.metrics["collapse"]
    if collapse:
        print(f"meddl: warning: collapse detected ({len(collapse['events'])} warning(s))"
              + (f"; {collapse['reason']}" if collapse["stopped"] else ""), file=sys.stderr)
    print(f"checkpoint: {result.checkpoint}")
    print(f"samples:    {result.output_dir / 'samples'}")
    print(f"report:     {result.report}")


def cmd_gan_sample(args: argparse.Namespace) -> None:
    from meddl.api import sample

    label = int(args.label) if args.label is not None and args.label.isdigit() else args.label
    npz = sample(args.checkpoint, args.n, label=label, seed=args.seed, output_dir=args.output_dir)
    print(f"generated {args.n} image(s)")
    print(f"png: {npz.parent / 'png'}")
    print(f"npz: {npz}  (train on it: meddl train {npz})")


def cmd_gan_evaluate(args: argparse.Namespace) -> None:
    from meddl.api import evaluate, synthesis_summary

    options = {"fractions": tuple(args.fractions)} if args.fractions else {}
    if args.epochs is not None:
        options["classifier_epochs"] = args.epochs
    result = evaluate(args.checkpoint, args.output_dir, data_dir=args.data_dir, seed=args.seed, n=args.n,
                      classifier_checkpoint=args.classifier, inception_weights=args.inception_weights,
                      tstr=not args.no_tstr, augmentation=not args.no_augmentation, progress=not args.quiet,
                      **options)
    print(synthesis_summary(result.metrics))
    print(f"metrics: {result.output_dir / 'metrics.json'}")
    if result.report:
        print(f"report:  {result.report}")


def register(commands: Subparsers) -> None:
    gan = commands.add_parser("gan", help="GAN image synthesis: train, sample, evaluate")
    gan_commands = gan.add_subparsers(dest="gan_command", metavar="GAN_COMMAND")
    gan.set_defaults(run=lambda args: gan.print_help())
    gan_train = gan_commands.add_parser("train", help="train a class-conditional DCGAN on a dataset's images")
    gan_train.add_argument("dataset", help="registered image dataset (see `meddl datasets`) or a MedMNIST-layout .npz")
    gan_train.add_argument("--output-dir", type=Path, help="default runs/gan-DATASET")
    gan_train.add_argument("--data-dir", type=Path)
    gan_train.add_argument("--epochs", type=int)
    gan_train.add_argument("--batch-size", type=int)
    gan_train.add_argument("--lr-g", type=float, help="generator learning rate (Adam, beta1 0.5)")
    gan_train.add_argument("--lr-d", type=float, help="discriminator learning rate")
    gan_train.add_argument("--loss", choices=["ns", "wgan-gp"], help="non-saturating (default) or WGAN-GP")
    gan_train.add_argument("--latent-dim", type=int)
    gan_train.add_argument("--unconditional", action="store_true", help="ignore the class labels")
    gan_train.add_argument("--seed", type=int)
    gan_train.add_argument("--sample-every", type=int, help="save a sample grid every N epochs")
    gan_train.add_argument("--max-minutes", type=float, help="stop after this much training time")
    gan_train.add_argument("--resume", action="store_true", help="continue the run in --output-dir from last.ckpt")
    gan_train.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output-dir")
    gan_train.set_defaults(run=cmd_gan_train)
    gan_sample = gan_commands.add_parser("sample", help="generate PNGs and a MedMNIST-layout npz from a checkpoint")
    gan_sample.add_argument("checkpoint", type=Path)
    gan_sample.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    gan_sample.add_argument("--label", help="class name or index (default: classes in the training proportions)")
    gan_sample.add_argument("--seed", type=int, default=0)
    gan_sample.add_argument("--output-dir", type=Path, help="default RUN/synthetic next to the checkpoints")
    gan_sample.set_defaults(run=cmd_gan_sample)
    gan_evaluate = gan_commands.add_parser(
        "evaluate", help="domain/Inception FID, precision/recall, memorisation, TSTR and augmentation gain")
    gan_evaluate.add_argument("checkpoint", type=Path)
    gan_evaluate.add_argument("--n", type=int, help="synthetic images to draw (default: as many as real training)")
    gan_evaluate.add_argument("--classifier", type=Path,
                              help="meddl classifier checkpoint for domain features (default: train one)")
    gan_evaluate.add_argument("--inception-weights", type=Path,
                              help="pytorch-fid's pt_inception-2015-12-05 file (or $MEDDL_INCEPTION_WEIGHTS)")
    gan_evaluate.add_argument("--no-tstr", action="store_true", help="skip train-synthetic-test-real")
    gan_evaluate.add_argument("--no-augmentation", action="store_true", help="skip the augmentation-gain table")
    gan_evaluate.add_argument("--fractions", type=float, nargs="+", metavar="F",
                              help="fractions of the real training set (default 0.1 0.25 1.0)")
    gan_evaluate.add_argument("--epochs", type=int, help="epochs of every classifier trained (default 5)")
    gan_evaluate.add_argument("--seed", type=int, default=0)
    gan_evaluate.add_argument("--data-dir", type=Path)
    gan_evaluate.add_argument("--output-dir", type=Path, help="default RUN/evaluation next to the checkpoints")
    gan_evaluate.set_defaults(run=cmd_gan_evaluate)
