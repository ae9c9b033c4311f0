"""`meddl train`: train, evaluate and report on a dataset (any family the dataset's data calls for)."""

from __future__ import annotations

import argparse
from pathlib import Path

from meddl.cli.common import Subparsers, data_options, devices, print_result


FLAGS = ("epochs", "batch_size", "lr", "size", "seed", "optimizer", "weight_decay", "patience", "precision",
         "accelerator", "devices", "num_nodes", "num_workers", "bootstrap", "epsilon", "delta", "max_grad_norm",
         "target_sensitivity", "logger", "tracking_uri", "ensemble", "weight_average", "label_smoothing")
SWITCHES = {"no_augment": ("augment", False), "class_weights": ("class_weights", True),
            "deterministic": ("deterministic", True), "dp": ("dp", True), "tta": ("tta", True)}


def cmd_train(args: argparse.Namespace) -> None:
    from meddl.api import train
    from meddl.errors import ConfigError

    options = train_options(args)
    dataset, model, preset = options.pop("dataset", None), options.pop("model", None), options.pop("preset", None)
    if dataset is None:
        raise ConfigError("meddl train: give a DATASET, or a --config file that names one (dataset: ...)")
    if args.print_config:
        from meddl.api import train_config
        from meddl.training.config_file import config_yaml

        print(config_yaml(train_config(dataset, model=model, preset=preset, **options)), end="")
        return
    if args.seeds:
        from meddl.api import parse_seeds

        if args.seed is not None:
            raise ConfigError("--seed and --seeds exclude each other: give one seed, or a list with --seeds")
        options.pop("seed", None)  # a --config file's seed gives way to the list
        options["seeds"] = parse_seeds(args.seeds)
    output_dir = args.output_dir or Path("runs") / Path(dataset).stem
    result = train(dataset, output_dir, model=model, data_dir=args.data_dir, preset=preset, resume=args.resume,
                   overwrite=args.overwrite, progress=not args.quiet, **options)
    if result is None:  # a data-parallel worker process; rank 0 prints the result
        return
    if args.seeds:
        _print_seeds(result.metrics)
        print(f"report:  {result.report}")
        print(f"metrics: {result.output_dir / 'metrics.json'}")
    else:
        print_result(result)


def train_options(args: argparse.Namespace) -> dict:
    """The train options: those of the --config file, overridden by every flag given on the command line."""
    from meddl.training.config import TrainConfig
    from meddl.training.config_file import read_config

    options = read_config(args.config, TrainConfig) if args.config else {}
    given = {"dataset": args.dataset, "model": args.model, "preset": args.preset,
             **{key: getattr(args, key) for key in FLAGS}}
    options.update({key: value for key, value in given.items() if value is not None})
    options.update(value for flag, value in SWITCHES.items() if getattr(args, flag))
    if args.option:
        options["data_options"] = {**options.get("data_options", {}), **data_options(args.option)}
    return options


def _print_seeds(summary: dict) -> None:
    for run in summary["per_seed"]:
        print(f"seed {run['seed']}: " + "   ".join(f"{k} {v:.4f}" for k, v in run["test"].items()
                                                   if isinstance(v, float)))
    print(f"mean ± sd over {len(summary['seeds'])} seeds: " + "   ".join(
        f"{k} {summary['mean'][k]:.4f} ± {summary['sd'][k]:.4f}" for k in summary["mean"]))


def register(commands: Subparsers) -> None:
    from meddl.api import PRESETS

    train = commands.add_parser("train", help="train, evaluate and report on a dataset")
    train.add_argument("dataset", nargs="?",
                       help="registered name (see `meddl datasets`), a folder of class sub-folders, or a CSV "
                       "(optional with a --config file that names one)")
    train.add_argument("--config", type=Path, metavar="FILE",
                       help="train options from a YAML file (as --print-config writes it); flags override it")
    train.add_argument("--print-config", action="store_true",
                       help="print every resolved train option as YAML (for --config) and exit without training")
    train.add_argument("--output-dir", type=Path, help="where checkpoints, metrics.json and report.html go "
                       "(default runs/DATASET)")
    train.add_argument("--data-dir", type=Path, help="folder holding dataset files (default $MEDDL_DATA_DIR, then the "
                       "download cache)")
    train.add_argument("--model", help="registered model (see `meddl models`); default: the dataset's own")
    train.add_argument("--preset", choices=list(PRESETS),
                       help="default: the dataset's own. fast: quick CPU default for images; best: fast + EMA weights "
                       "(docs/recipes.md); medmnist-v2: the "
                       "paper's ResNet protocol (100 epochs); ecg, text, qa, lm: ECG beats, text classification, "
                       "question answering, language model")
    train.add_argument("--option", "-O", action="append", metavar="KEY=VALUE",
                       help="ECG/text loader option, repeatable (e.g. -O split=intra-patient -O rr_features=false; "
                       "-O tokenizer=char); `meddl datasets` describes each set")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--optimizer", choices=["adam", "adamw", "sgd"])
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--size", type=int, help="image size in pixels (28, 64, 128 or 224 for MedMNIST)")
    train.add_argument("--seed", type=int)
    train.add_argument("--seeds", help="several seeds, e.g. 0,1,2: one run per seed in OUTPUT_DIR/seed-N and their "
                       "mean ± sd (as MedMNIST v2 reports)")
    train.add_argument("--target-sensitivity", type=float,
                       help="binary/multi-label: tune the decision threshold on validation data to reach this "
                       "sensitivity (e.g. 0.95) instead of Youden's J")
    train.add_argument("--patience", type=int, help="stop early after this many epochs without a better val AUC")
    train.add_argument("--no-augment", action="store_true", help="train without data augmentation")
    train.add_argument("--ensemble", type=int, metavar="K",
                       help="image classifiers: train K members together (own initialisation and augmentation each) "
                            "and average their probabilities; one checkpoint, one ONNX file")
    train.add_argument("--weight-average", choices=["none", "ema", "swa"],
                       help="image classifiers: validate, keep and deploy an average of the weights (EMA per step, "
                            "or SWA over the last quarter of the epochs)")
    train.add_argument("--tta", action="store_true",
                       help="image classifiers: average predictions over fixed flips/turns (or 1-pixel shifts where "
                            "anatomy forbids flips) of each image")
    train.add_argument("--label-smoothing", type=float, help="image classifiers: smoothing of the targets (e.g. 0.1)")
    train.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    train.add_argument("--deterministic", action="store_true",
                       help="deterministic kernels everywhere (bit-exact GPU runs; slower). CPU runs repeat without it")
    train.add_argument("--precision", help="auto (bf16-mixed where the hardware has it), 32-true, bf16-mixed, 16-mixed")
    train.add_argument("--accelerator", help="auto, cpu or gpu")
    train.add_argument("--devices", type=devices,
                       help="devices to train on data-parallel, one process each (default 1; GPUs: a count, -1 for "
                       "all, or indices such as 0,1; see docs/scaling.md)")
    train.add_argument("--num-nodes", type=int)
    train.add_argument("--num-workers", type=int, help="data-loader worker processes (default 0: data is in memory)")
    train.add_argument("--bootstrap", type=int, help="bootstrap resamples for confidence intervals (default 1000)")
    train.add_argument("--dp", action="store_true",
                       help="differentially private training (DP-SGD, Opacus); needs --epsilon")
    train.add_argument("--epsilon", type=float, help="with --dp: privacy budget epsilon the whole run may spend")
    train.add_argument("--delta", type=float, help="with --dp: delta (default: the largest power of ten below "
                       "1/N_train, at most 1e-5)")
    train.add_argument("--max-grad-norm", type=float, help="with --dp: per-image gradient clipping norm (default 1.0)")
    train.add_argument("--logger", help="experiment trackers, comma-separated: csv (logs/metrics.csv), tensorboard "
                       "(logs/tensorboard/), mlflow (pip install 'meddl[mlflow]'), or none; default csv,tensorboard")
    train.add_argument("--tracking-uri", help="with --logger ...mlflow: the MLflow tracking URI (default "
                       "$MLFLOW_TRACKING_URI, else file:./mlruns)")
    train.add_argument("--resume", action="store_true", help="continue the run in --output-dir from last.ckpt")
    train.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output-dir")
    train.set_defaults(run=cmd_train)
