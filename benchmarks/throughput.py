"""Training throughput: meddl's trainer against a plain hand-written PyTorch loop, measured in one run.

Both train the same registered model on the same data (PneumoniaMNIST train split, 28x28) with the same batch size,
optimiser, learning-rate schedule, precision (bf16 autocast where meddl picks it), memory format (channels-last where
meddl picks it) and augmentation (`meddl.tasks.image.augment.augment` on each batch). meddl runs as users run it:
`meddl.tasks.runner.fit_task(image task, config, data, output_dir)`, with its validation, checkpoints and logging.

Timing: each side trains warm-up + N epochs and only the last N count. The plain loop is timed per epoch from the
shuffle to the last optimiser step. meddl is timed the same way by a Lightning callback, from on_train_epoch_start
to the end of the epoch's last training batch (validation and checkpoint writes come after that point and are
excluded); meddl's whole-epoch rate including them is reported beside it for information. On CUDA both sides
synchronise the device at each timestamp.

    .venv/bin/python benchmarks/throughput.py                         # fast-cnn on every device available
    .venv/bin/python benchmarks/throughput.py --models fast-cnn resnet18-28 --augment both
    .venv/bin/python benchmarks/throughput.py --epochs 1 --subset 512  # a smoke test
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from _common import RESULTS, arguments, describe, environment, table, write_json

DATASET = "pneumoniamnist"
TARGET_RATIO = 0.9


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    import torch

    default_devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", nargs="+", default=["fast-cnn"], metavar="NAME", help="registered model names (default: fast-cnn)")
    parser.add_argument("--devices", nargs="+", default=default_devices, choices=["cpu", "cuda"],
                        help="devices to measure (default: CPU, and CUDA when available)")
    parser.add_argument("--epochs", type=int, default=5, help="timed (steady-state) epochs per side (default: 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up epochs before the timed ones (default: 1)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: meddl's default, 128)")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16-mixed", "32-true"],
                        help="auto (default) = what meddl's resolve_precision picks for the device")
    parser.add_argument("--augment", default="on", choices=["on", "off", "both"],
                        help="batch augmentation on both sides (default: on, as in meddl)")
    parser.add_argument("--subset", type=int, help="use only the first N training images (for smoke tests)")
    parser.add_argument("--deterministic", action="store_true",
                        help="both sides with deterministic algorithms (meddl's --deterministic); default: neither")
    parser.add_argument("--data-dir", default=os.environ.get("MEDDL_DATA_DIR"),
                        help="folder with pneumoniamnist.npz (default: $MEDDL_DATA_DIR)")
    parser.add_argument("--output", type=Path, default=RESULTS / "throughput.json", help="JSON result file (default: benchmarks/results/throughput.json)")
    args = parser.parse_args(argv)
    if "cuda" in args.devices and not torch.cuda.is_available():
        parser.error("--devices cuda: torch.cuda.is_available() is False on this machine")
    if args.epochs < 1 or args.warmup < 0:
        parser.error("--epochs must be at least 1 and --warmup at least 0")
    return args


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _torch_flags() -> tuple:
    import torch

    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def _restore_torch_flags(flags: tuple) -> None:
    """Deterministic mode changes process-wide settings; undo them so the next loop starts from the same state."""
    import torch

    deterministic, warn_only, benchmark, cublas = flags
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.benchmark = benchmark
    if cublas is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas


def _optimizer(config, params):
    """The optimiser meddl's ImageClassifier.configure_optimizers builds for the same config."""
    import torch

    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay, nesterov=True)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def plain_loop(config, data, device, precision: str, channels_last: bool, deterministic: bool) -> list[float]:
    """A straightforward PyTorch training loop; returns the seconds of each epoch."""
    import numpy as np
    import torch

    from meddl.models import create
    from meddl.tasks.image import outputs as classification
    from meddl.tasks.image.augment import augment, policy_for
    from meddl.tasks.image.module import MEAN, STD

    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    info = data.info
    torch.manual_seed(config.seed)
    model = create(config.model, info.n_channels, classification.n_outputs(info.task, info.n_classes),
                   image_size=config.size).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(config, model.parameters())
    images = torch.from_numpy(np.ascontiguousarray(data.images["train"].transpose(0, 3, 1, 2)))  # uint8 N,C,H,W
    labels = torch.from_numpy(np.asarray(data.labels["train"]).astype(np.int64))
    policy = policy_for(info.modality)
    generator = torch.Generator().manual_seed(config.seed)
    use_bf16 = precision.startswith("bf16")
    model.train()
    seconds = []
    for epoch in range(config.epochs):
        for group in optimizer.param_groups:  # meddl's cosine schedule, set once per epoch
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
        _sync(device)
        start = time.perf_counter()
        order = torch.randperm(len(images), generator=generator)
        total = torch.zeros((), device=device)
        for begin in range(0, len(order), config.batch_size):
            index = order[begin : begin + config.batch_size]
            x = images[index].to(device, non_blocking=True).float().div_(255)
            y = labels[index].to(device, non_blocking=True)
            if config.augment:
                x = augment(x, policy, generator)
            x = (x - MEAN) / STD
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = classification.loss(info.task, model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(y)
        (total / len(order)).item()  # the epoch's mean loss, read once, as an epoch-level log would
        _sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def _epoch_timer(device):
    import lightning as L

    class EpochTimer(L.Callback):
        """Per epoch: seconds to the end of the last training batch, seconds of validation, and whole-epoch seconds
        (to the next epoch's start, or the end of training: validation, checkpoints and logging included)."""

        def __init__(self) -> None:
            self.train: list[float] = []
            self.validation: list[float] = []
            self.whole: list[float] = []
            self._epoch_start: float | None = None
            self._val_start = 0.0

        def _now(self) -> float:
            _sync(device)
            return time.perf_counter()

        def on_train_epoch_start(self, trainer, module) -> None:
            now = self._now()
            if self._epoch_start is not None:
                self.whole.append(now - self._epoch_start)
            self._epoch_start = now

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            if batch_idx == trainer.num_training_batches - 1:
                self.train.append(self._now() - self._epoch_start)

        def on_validation_epoch_start(self, trainer, module) -> None:
            self._val_start = self._now()

        def on_validation_epoch_end(self, trainer, module) -> None:
            self.validation.append(self._now() - self._val_start)

        def on_train_end(self, trainer, module) -> None:
            self.whole.append(self._now() - self._epoch_start)

    return EpochTimer()


def meddl_fit(config, data, device) -> dict:
    """meddl's own trainer, as `meddl train` runs it, with a timing callback; checkpoints go to a temporary folder."""
    from meddl.tasks import get_task
    from meddl.tasks.runner import fit_task

    timer = _epoch_timer(device)
    with tempfile.TemporaryDirectory(prefix="meddl-throughput-") as folder:
        fit_task(get_task("image"), config, data, Path(folder), callbacks=[timer], progress=False)
    if not (len(timer.train) == len(timer.whole) == config.epochs):
        raise RuntimeError(f"timing callback saw {len(timer.train)} training and {len(timer.whole)} whole epochs; "
                           f"expected {config.epochs}")
    return {"train": timer.train, "whole": timer.whole, "validation": timer.validation}


def _rate(n_images: int, seconds: list[float]) -> float:
    return n_images * len(seconds) / sum(seconds)


def measure(model: str, device_name: str, augment: bool, data, args) -> dict:
    import torch

    from meddl.training.config import make_config
    from meddl.training.trainer import resolve_precision

    device = torch.device(device_name)
    config = make_config(
        DATASET, model=model, epochs=args.warmup + args.epochs, batch_size=args.batch_size, augment=augment,
        precision=args.precision, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
        deterministic=args.deterministic,
    )
    precision, channels_last = resolve_precision(config)
    n_train = len(data.images["train"])
    flags = _torch_flags()
    plain = plain_loop(config, data, device, precision, channels_last, args.deterministic)[args.warmup :]
    _restore_torch_flags(flags)
    timed = meddl_fit(config, data, device)
    _restore_torch_flags(flags)
    meddl_train, meddl_whole = timed["train"][args.warmup :], timed["whole"][args.warmup :]
    plain_rate, meddl_rate = _rate(n_train, plain), _rate(n_train, meddl_train)
    return {
        "device": device_name,
        "model": model,
        "augment": augment,
        "precision": precision,
        "channels_last": channels_last,
        "batch_size": config.batch_size,
        "optimizer": config.optimizer,
        "train_images": n_train,
        "warmup_epochs": args.warmup,
        "timed_epochs": args.epochs,
        "plain": {
            "images_per_s": round(plain_rate, 1),
            "epoch_seconds": [round(s, 6) for s in plain],
            "deterministic": args.deterministic,
        },
        "meddl": {
            "images_per_s": round(meddl_rate, 1),
            "epoch_seconds": [round(s, 6) for s in meddl_train],
            "whole_epoch_images_per_s": round(_rate(n_train, meddl_whole), 1),
            "whole_epoch_seconds": [round(s, 6) for s in meddl_whole],
            "validation_seconds": [round(s, 6) for s in timed["validation"][args.warmup :]],
        },
        "ratio": round(meddl_rate / plain_rate, 3),
        "meets_target": meddl_rate / plain_rate >= TARGET_RATIO,
    }


def _spread(n_images: int, seconds: list[float]) -> str:
    rates = [n_images / s for s in seconds]
    return f"{min(rates):.0f}-{max(rates):.0f}"


HEADER = ["device", "model", "augment", "precision", "plain img/s", "(per epoch)", "meddl img/s", "(per epoch)",
          "meddl/plain", f">= {TARGET_RATIO}", "meddl incl. val+ckpt img/s"]

METHOD = (
    "img/s = training images x timed epochs / their seconds, after {warmup} untimed warm-up epoch(s). plain: "
    "per epoch from shuffle to last optimiser step. meddl: per epoch from on_train_epoch_start to the end of the "
    "last training batch (a Lightning callback), so validation and checkpoint writes are excluded; 'incl. val+ckpt' "
    "is meddl's whole epoch (start to next start) for information. Same model, data, batch size, optimiser, "
    "schedule, precision, memory format and augmentation on both sides; CUDA timestamps synchronise the device."
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from meddl.data import load_dataset

    if not args.data_dir:
        sys.exit("throughput.py: no data folder; pass --data-dir or set MEDDL_DATA_DIR")
    env = environment()
    threads = torch.get_num_threads()
    data = load_dataset(DATASET, size=28, data_dir=args.data_dir)
    if args.subset:
        data = replace(data, images={**data.images, "train": data.images["train"][: args.subset]},
                       labels={**data.labels, "train": data.labels["train"][: args.subset]})
    augments = {"on": [True], "off": [False], "both": [True, False]}[args.augment]
    print(describe(env))
    print(f"{DATASET} train split: {len(data.images['train'])} images; warm-up {args.warmup} + timed {args.epochs} "
          f"epoch(s) per side; torch threads {threads} (left at torch's default)\n")
    results = []
    for device_name in args.devices:
        for model in args.models:
            for augment in augments:
                print(f"[{device_name} {model} augment={'on' if augment else 'off'}] plain loop, then meddl ...",
                      flush=True)
                row = measure(model, device_name, augment, data, args)
                print(f"    plain {row['plain']['images_per_s']:.0f} img/s, meddl {row['meddl']['images_per_s']:.0f}"
                      f" img/s, ratio {row['ratio']:.3f}", flush=True)
                results.append(row)
    if torch.get_num_threads() != threads:
        print(f"note: torch's thread count changed during the run ({threads} -> {torch.get_num_threads()})")
    rows = [[
        r["device"], r["model"], "on" if r["augment"] else "off", r["precision"] + (" +CL" if r["channels_last"] else ""),
        f"{r['plain']['images_per_s']:.0f}", _spread(r["train_images"], r["plain"]["epoch_seconds"]),
        f"{r['meddl']['images_per_s']:.0f}", _spread(r["train_images"], r["meddl"]["epoch_seconds"]),
        f"{r['ratio']:.3f}", "yes" if r["meets_target"] else "NO",
        f"{r['meddl']['whole_epoch_images_per_s']:.0f}",
    ] for r in results]
    method = METHOD.format(warmup=args.warmup)
    print()
    print(table(rows, HEADER))
    print(f"\n+CL = channels-last. {method}")
    payload = {
        "benchmark": "throughput",
        "dataset": DATASET,
        "settings": arguments(args),
        "environment": env,
        "torch_threads": threads,
        "method": method,
        "target_ratio": TARGET_RATIO,
        "results": results,
    }
    write_json(args.output, payload)
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
