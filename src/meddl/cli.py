"""The one front door: parses arguments, calls the Python API, prints. No logic the API lacks.

Heavy libraries (torch, lightning, monai) are imported only by the command that needs them, so `meddl --help` and
`meddl datasets` answer at once. A user error prints one line (`meddl: error: ...`); `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meddl import __version__
from meddl.explain import METHODS  # a plain tuple: importing it loads no torch
from meddl.training.config import PRESETS  # dataclasses only: loads no torch


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def cmd_datasets(args: argparse.Namespace) -> None:
    from meddl.data import list_datasets

    rows = []
    for info in list_datasets():
        splits = "/".join(str(info.splits.get(s, "?")) for s in ("train", "val", "test"))
        image = info.kind == "image"
        rows.append([info.name, info.kind, info.task, str(info.n_classes) if info.labels else "-",
                     str(info.n_channels) if info.kind != "text" else "-",
                     ",".join(map(str, info.sizes)) if image else "-", splits, info.license,
                     info.modality if image else "-"])
    print(_table(rows, ["name", "kind", "task", "classes", "channels", "sizes", "train/val/test", "license",
                        "modality"]))
    print("\nAlso, given as a path: a folder of class sub-folders or a CSV of path,label (images), a MedMNIST-layout "
          ".npz, a folder of WFDB records (*.hea/*.dat/*.atr), or PubMed RCT text (train.txt/dev.txt/test.txt).")


def cmd_models(args: argparse.Namespace) -> None:
    from meddl.models import list_models

    rows = [[m.name, m.family, m.input_size, m.cam_layer or "-", m.description] for m in list_models()]
    print(_table(rows, ["name", "family", "input size", "grad-cam layer", "description"]))


def _print_result(result) -> None:
    split = "test" if "test" in result.metrics else "val"
    metrics, ci = result.metrics[split], result.confidence_intervals

    def with_ci(key: str) -> str:
        value = metrics.get(key)
        if value is None:
            return "n/a"
        low, high = ci.get(key, [None, None])
        return f"{value:.3f}" + (f" (95% CI {low:.3f}-{high:.3f})" if low is not None else "")

    if "perplexity" in metrics:
        print(f"{split} perplexity {metrics['perplexity']:.2f} over {metrics['tokens']} tokens")
    elif "auc" in metrics:
        print(f"{split} AUC {with_ci('auc')}   ACC {with_ci('acc')}")
    else:
        print(f"{split} macro-F1 {with_ci('macro_f1')}   ACC {with_ci('acc')}")
    privacy = result.metrics.get("privacy")
    if privacy:
        print(f"privacy: epsilon {privacy['epsilon']:.2f} spent (target {privacy['target_epsilon']:g}), "
              f"delta {privacy['delta']:g}, DP-SGD")
    print(f"report:  {result.report}")
    print(f"metrics: {result.output_dir / 'metrics.json'}")


def cmd_train(args: argparse.Namespace) -> None:
    from meddl.api import train

    output_dir = args.output_dir or Path("runs") / Path(args.dataset).stem
    options = {
        key: getattr(args, key)
        for key in ("epochs", "batch_size", "lr", "size", "seed", "optimizer", "weight_decay", "patience",
                    "precision", "accelerator", "devices", "num_nodes", "num_workers", "bootstrap", "epsilon",
                    "delta", "max_grad_norm", "target_sensitivity")
    }
    if args.no_augment:
        options["augment"] = False
    if args.class_weights:
        options["class_weights"] = True
    if args.deterministic:
        options["deterministic"] = True
    if args.dp:
        options["dp"] = True
    if args.option:
        options["data_options"] = _data_options(args.option)
    if args.seeds:
        from meddl.multiseed import parse_seeds

        if args.seed is not None:
            from meddl.errors import ConfigError

            raise ConfigError("--seed and --seeds exclude each other: give one seed, or a list with --seeds")
        options.pop("seed")
        options["seeds"] = parse_seeds(args.seeds)
    result = train(args.dataset, output_dir, model=args.model, data_dir=args.data_dir, preset=args.preset,
                   resume=args.resume, overwrite=args.overwrite, **options)
    if result is None:  # a data-parallel worker process; rank 0 prints the result
        return
    if args.seeds:
        _print_seeds(result.metrics)
        print(f"report:  {result.report}")
        print(f"metrics: {result.output_dir / 'metrics.json'}")
    else:
        _print_result(result)


def _print_seeds(summary: dict) -> None:
    for run in summary["per_seed"]:
        print(f"seed {run['seed']}: " + "   ".join(f"{k} {v:.4f}" for k, v in run["test"].items()
                                                   if isinstance(v, float)))
    print(f"mean ± sd over {len(summary['seeds'])} seeds: " + "   ".join(
        f"{k} {summary['mean'][k]:.4f} ± {summary['sd'][k]:.4f}" for k in summary["mean"]))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from meddl.api import evaluate

    output_dir = args.output_dir or Path(args.checkpoint).resolve().parent.parent / f"evaluate-{args.split}"
    result = evaluate(args.checkpoint, output_dir, dataset=args.dataset, data_dir=args.data_dir, split=args.split,
                      n_bootstrap=args.bootstrap, force=args.force)
    _print_result(result)


def cmd_generate(args: argparse.Namespace) -> None:
    from meddl.api import generate

    print(generate(args.checkpoint, args.prompt, max_tokens=args.max_tokens, temperature=args.temperature,
                   top_k=args.top_k, seed=args.seed))


def cmd_predict(args: argparse.Namespace) -> None:
    from meddl.api import predict
    from meddl.atomic import write_text_atomic
    from meddl.inference import format_predictions

    fmt = args.format or ("json" if args.output and args.output.suffix.lower() == ".json" else "csv")
    predictions = predict(args.checkpoint, args.inputs, strict=args.strict)
    for prediction in predictions:
        for warning in prediction.warnings:
            print(f"meddl: warning: {prediction.file}: {warning}", file=sys.stderr)
    text = format_predictions(predictions, fmt)
    if args.output:
        write_text_atomic(args.output, text)
        print(f"predictions: {args.output}")
    else:
        sys.stdout.write(text)


def cmd_explain(args: argparse.Namespace) -> None:
    from meddl.api import explain

    results = explain(args.checkpoint, args.inputs, method=args.method, output_dir=args.output_dir,
                      target=args.target)
    print(f"explained {len(results)} image(s) with {args.method}")
    print(f"overlays: {args.output_dir}")
    print(f"summary:  {args.output_dir / 'explanations.csv'}")


def cmd_export(args: argparse.Namespace) -> None:
    from meddl.api import export

    result = export(args.checkpoint, args.output, format=args.format)
    print(f"exported: {result.path}")
    print(f"verified: ONNX Runtime vs PyTorch max abs difference {result.max_abs_diff:.2e}")


def cmd_serve(args: argparse.Namespace) -> None:
    from meddl.api import serve

    serve(args.model, host=args.host, port=args.port, api_key=args.api_key, max_upload_mb=args.max_upload_mb,
          backend=args.backend)


def cmd_deid(args: argparse.Namespace) -> None:
    from meddl.api import deid
    from meddl.data.deid import BURNED_IN_WARNING

    result = deid(args.input_dir, args.output_dir, shift_dates=args.shift_dates, key=args.key)
    for skipped in result.skipped:
        print(f"meddl: skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    for path in result.burned_in:
        print(f"meddl: warning: {path}: {BURNED_IN_WARNING}", file=sys.stderr)
    print(result.summary())


def cmd_data_verify(args: argparse.Namespace) -> int:
    from meddl.api import verify_data
    from meddl.data.verify import format_report

    output = args.output or Path("runs") / "verify" / f"{Path(args.dataset).stem}.json"
    report = verify_data(args.dataset, data_dir=args.data_dir, output=output, near_threshold=args.near_bits,
                         near_mad=args.near_mad, options=_data_options(args.option or []))
    print(format_report(report))
    print(f"report: {output}")
    if report.leakage and not args.warn_only:
        print("meddl: leakage between splits (exit 1; --warn-only to exit 0)", file=sys.stderr)
        return 1
    return 0


def cmd_gan_train(args: argparse.Namespace) -> None:
    from meddl.gan.training import train_gan

    output_dir = args.output_dir or Path("runs") / f"gan-{Path(args.dataset).stem}"
    options = {key: getattr(args, key) for key in ("epochs", "batch_size", "lr_g", "lr_d", "loss", "latent_dim",
                                                   "seed", "sample_every", "max_minutes")
               if getattr(args, key) is not None}
    if args.unconditional:
        options["conditional"] = False
    result = train_gan(args.dataset, output_dir, data_dir=args.data_dir, resume=args.resume,
                       overwrite=args.overwrite, **options)
    if result.collapse:
        print(f"meddl: warning: collapse detected ({len(result.collapse['events'])} warning(s))"
              + (f"; {result.collapse['reason']}" if result.collapse["stopped"] else ""), file=sys.stderr)
    print(f"checkpoint: {result.checkpoint}")
    print(f"samples:    {result.output_dir / 'samples'}")
    print(f"report:     {result.report}")


def cmd_gan_sample(args: argparse.Namespace) -> None:
    from meddl.gan.sampling import load_generator, sample_images, write_samples

    bundle = load_generator(args.checkpoint)
    label = int(args.label) if args.label is not None and args.label.isdigit() else args.label
    images, labels = sample_images(bundle, args.n, label=label, seed=args.seed)
    output_dir = args.output_dir or Path(args.checkpoint).resolve().parent.parent / "synthetic"
    npz = write_samples(bundle, images, labels, output_dir, seed=args.seed)
    print(f"generated {len(images)} image(s)")
    print(f"png: {output_dir / 'png'}")
    print(f"npz: {npz}  (train on it: meddl train {npz})")


def cmd_gan_evaluate(args: argparse.Namespace) -> None:
    from meddl.gan.evaluation import METRICS_FILE, default_output_dir, evaluate_gan, format_summary

    options = {"fractions": tuple(args.fractions)} if args.fractions else {}
    if args.epochs is not None:
        options["classifier_epochs"] = args.epochs
    metrics = evaluate_gan(args.checkpoint, args.output_dir, data_dir=args.data_dir, n=args.n,
                           classifier_checkpoint=args.classifier, inception_weights=args.inception_weights,
                           tstr=not args.no_tstr, augmentation=not args.no_augmentation, seed=args.seed, **options)
    print(format_summary(metrics))
    print(f"metrics: {(args.output_dir or default_output_dir(args.checkpoint)) / METRICS_FILE}")
    if metrics["report"]:
        print(f"report:  {metrics['report']}")


def cmd_selfcheck(args: argparse.Namespace) -> int:
    from meddl.selfcheck import format_results, run_selfcheck

    results = run_selfcheck()
    print(format_results(results))
    return 0 if all(r.passed for r in results) else 1


def _data_options(pairs: list[str]) -> dict:
    """`--option key=value` pairs as a dict; values read as YAML scalars (true, 0.25, intra-patient)."""
    import yaml

    from meddl.errors import ConfigError

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE, e.g. --option split=intra-patient")
        options[key.strip().replace("-", "_")] = yaml.safe_load(value) if value.strip() else ""
    return options


def _devices(value: str) -> int | str:
    """A device count as a number ('2', '-1'); 'auto' and index lists ('0,1') stay text for Lightning."""
    return int(value) if value.lstrip("-").isdigit() else value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meddl", description="Medical deep learning: data to trained, evaluated model.")
    parser.add_argument("--version", action="version", version=f"meddl {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("datasets", help="list registered datasets").set_defaults(run=cmd_datasets)
    commands.add_parser("models", help="list registered models").set_defaults(run=cmd_models)

    train = commands.add_parser("train", help="train, evaluate and report on a dataset")
    train.add_argument("dataset", help="registered name (see `meddl datasets`), a folder of class sub-folders, or a CSV")
    train.add_argument("--output-dir", type=Path, help="where checkpoints, metrics.json and report.html go "
                       "(default runs/DATASET)")
    train.add_argument("--data-dir", type=Path, help="folder holding dataset files (default $MEDDL_DATA_DIR, then the "
                       "download cache)")
    train.add_argument("--model", help="registered model (see `meddl models`); default: the dataset's own")
    train.add_argument("--preset", choices=list(PRESETS),
                       help="default: the dataset's own. fast: quick CPU default for images; medmnist-v2: the "
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
    train.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    train.add_argument("--deterministic", action="store_true",
                       help="deterministic kernels everywhere (bit-exact GPU runs; slower). CPU runs repeat without it")
    train.add_argument("--precision", help="auto (bf16-mixed where the hardware has it), 32-true, bf16-mixed, 16-mixed")
    train.add_argument("--accelerator", help="auto, cpu or gpu")
    train.add_argument("--devices", type=_devices,
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
    train.add_argument("--resume", action="store_true", help="continue the run in --output-dir from last.ckpt")
    train.add_argument("--overwrite", action="store_true", help="replace an earlier run in --output-dir")
    train.set_defaults(run=cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a checkpoint and write metrics and a report")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--dataset", help="dataset to evaluate on (default: the one it was trained on)")
    evaluate.add_argument("--data-dir", type=Path)
    evaluate.add_argument("--split", default="test", choices=["train", "val", "test"])
    evaluate.add_argument("--output-dir", type=Path, help="default: RUN/evaluate-SPLIT next to the checkpoints")
    evaluate.add_argument("--bootstrap", type=int, default=1000)
    evaluate.add_argument("--force", action="store_true",
                          help="evaluate even if the data differs from what the checkpoint was trained with")
    evaluate.set_defaults(run=cmd_evaluate)

    predict = commands.add_parser("predict", help="class probabilities for image files or folders")
    predict.add_argument("checkpoint", type=Path)
    predict.add_argument("inputs", nargs="+", type=Path, help="PNG/JPEG/DICOM/NIfTI files or folders of them")
    predict.add_argument("--output", "-o", type=Path, help="write CSV or JSON here (by suffix); default: stdout")
    predict.add_argument("--format", choices=["csv", "json"])
    predict.add_argument("--strict", action="store_true",
                         help="stop with an error (instead of a warning) on an input unlike the training images")
    predict.set_defaults(run=cmd_predict)

    generate = commands.add_parser("generate", help="continue a prompt with a trained language model")
    generate.add_argument("checkpoint", type=Path, help="a language-model checkpoint (e.g. from meddl train pubmedqa-lm)")
    generate.add_argument("--prompt", required=True, help="text to continue")
    generate.add_argument("--max-tokens", type=int, default=100, help="tokens to sample (default 100)")
    generate.add_argument("--temperature", type=float, default=1.0,
                          help="below 1: safer, more repetitive text; above 1: more varied (default 1.0)")
    generate.add_argument("--top-k", type=int, help="sample only among the K most likely tokens (default: all)")
    generate.add_argument("--seed", type=int, default=0, help="the same seed gives the same text (default 0)")
    generate.set_defaults(run=cmd_generate)

    explain = commands.add_parser("explain", help="heatmaps of where the model looked, as overlay PNGs")
    explain.add_argument("checkpoint", type=Path)
    explain.add_argument("inputs", nargs="+", type=Path, help="PNG/JPEG/DICOM/NIfTI files or folders of them")
    explain.add_argument("--method", default="gradcam", help=f"one of {', '.join(METHODS)} (default gradcam)")
    explain.add_argument("--target", help="class name or index to explain (default: each image's predicted class)")
    explain.add_argument("--output-dir", type=Path, default=Path("explanations"),
                         help="where overlays and explanations.csv/.json go (default ./explanations)")
    explain.set_defaults(run=cmd_explain)

    export = commands.add_parser("export", help="export a checkpoint for deployment (ONNX), verified against PyTorch")
    export.add_argument("checkpoint", type=Path)
    export.add_argument("--format", default="onnx", help="onnx (the graph takes pixels 0..255, returns probabilities)")
    export.add_argument("--output", "-o", type=Path, help="default: CHECKPOINT with the format's suffix, beside it")
    export.set_defaults(run=cmd_export)

    serve = commands.add_parser("serve", help="serve a model over HTTP: JSON API with an API key, and a web page")
    serve.add_argument("model", type=Path, help="a meddl checkpoint (.ckpt) or ONNX export (.onnx)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", help="key clients send as X-API-Key (default $MEDDL_API_KEY, else a printed one)")
    serve.add_argument("--max-upload-mb", type=float, default=20, help="largest request body accepted (default 20)")
    serve.add_argument("--backend", default="onnx", choices=["onnx", "torch"],
                       help="run predictions on ONNX Runtime (default) or eager PyTorch (checkpoints only)")
    serve.set_defaults(run=cmd_serve)

    commands.add_parser("selfcheck", help="check this installation against bundled reference outputs (seconds)"
                        ).set_defaults(run=cmd_selfcheck)

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

    deid = commands.add_parser("deid", help="de-identify a folder of DICOM files (PS3.15 Annex E Basic Profile)")
    deid.add_argument("input_dir", type=Path, help="folder of DICOM files (searched recursively)")
    deid.add_argument("output_dir", type=Path, help="where the de-identified tree and meddl_deid_log.csv go; "
                      "must lie outside the input folder")
    deid.add_argument("--shift-dates", action="store_true",
                      help="move each patient's dates back by one keyed offset (intervals kept) instead of removing")
    deid.add_argument("--key", help="secret that makes new UIDs, pseudonyms and date offsets repeat across runs "
                      "(default: a random key for this run only)")
    deid.set_defaults(run=cmd_deid)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    from meddl.errors import MeddlError

    try:
        status = args.run(args)
    except MeddlError as error:
        if args.debug:
            raise
        print(f"meddl: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meddl: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last line of defence: one line, not a crash dump
        if args.debug:
            raise
        print(f"meddl: unexpected error: {type(error).__name__}: {error} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
