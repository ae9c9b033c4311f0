"""The seed's text-generating RNN recipe against meddl's, on the same LSTM and the same PubMedQA abstracts.

The seed trains its text generator with a mean-squared-error loss and one sequence per step. This script trains
meddl's `lstm-lm` (word level, the vocabulary and chunks `meddl train pubmedqa-lm` uses) three ways, each for the
same wall-clock budget on this machine, with the same optimiser (Adam, lr 2e-3) and gradient clipping:

- seed recipe: MSE between the softmax output and the one-hot next token, batch size 1;
- cross-entropy, batch size 1 (only the loss corrected);
- meddl recipe: cross-entropy, batch size 32 (what `meddl train pubmedqa-lm` uses).

Each is scored by test perplexity (the same function `meddl evaluate` uses) after its budget. Writes
results/seed_rnn.json and results/seed_rnn.md.

    MEDDL_DATA_DIR=../shared/data .venv/bin/python benchmarks/seed_rnn.py --budget-seconds 120
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

from _common import arguments, describe, environment, report_results

ARMS = {  # name: (loss, batch size)
    "seed recipe: MSE on softmax, batch 1": ("mse", 1),
    "cross-entropy, batch 1": ("cross-entropy", 1),
    "meddl: cross-entropy, batch 32": ("cross-entropy", 32),
}


def train_arm(loss_name: str, batch_size: int, budget: float, data, seed: int) -> dict:
    import lightning as L
    import torch
    from torch.nn import functional as F

    from meddl.data import batching as sd
    from meddl.tasks import PlanContext, get_task
    from meddl.tasks.sequence.task import GRADIENT_CLIP
    from meddl.training.config import make_config

    L.seed_everything(seed, verbose=False)
    config = make_config("pubmedqa-lm", preset="lm", batch_size=batch_size, seed=seed)
    plan = get_task("language-model").plan(config, data, PlanContext(Path(".")))
    module, train_loader = plan.module, plan.train_loader
    tokenizer = sd.build_tokenizer(data)
    test_loader = sd.loader(sd.chunk_dataset(data, "test", tokenizer, data.options.max_tokens), 64, shuffle=False)
    optimizer = torch.optim.Adam(module.net.parameters(), lr=config.lr)
    pad = tokenizer.pad_id
    module.train()
    steps = tokens = epoch = 0
    start = time.perf_counter()
    while time.perf_counter() - start < budget:
        train_loader.sampler.set_epoch(epoch)
        for batch in train_loader:
            logits, _ = module.net(batch["tokens"], state=None)
            targets = batch["targets"].reshape(-1)
            logits = logits.reshape(-1, logits.shape[-1])
            real = targets != pad
            if loss_name == "mse":  # the seed's choice: squared error between probabilities and a one-hot target
                one_hot = F.one_hot(targets[real], logits.shape[-1]).float()
                loss = F.mse_loss(torch.softmax(logits[real], dim=-1), one_hot)
            else:
                loss = F.cross_entropy(logits[real], targets[real])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.net.parameters(), GRADIENT_CLIP)
            optimizer.step()
            steps, tokens = steps + 1, tokens + int(real.sum())
            if time.perf_counter() - start >= budget:
                break
        epoch += 1
    seconds = time.perf_counter() - start
    cross_entropy, count = module.cross_entropy(test_loader)
    return {"loss": loss_name, "batch_size": batch_size, "train_seconds": round(seconds, 1), "steps": steps,
            "train_tokens": tokens, "epochs_started": epoch, "test_tokens": count,
            "test_perplexity": math.exp(min(cross_entropy, 50.0)), "vocab_size": tokenizer.vocab_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="default: MEDDL_DATA_DIR")
    parser.add_argument("--budget-seconds", type=float, default=120.0, help="training time per recipe")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from meddl.data import load_dataset

    data_dir = args.data_dir or (Path(os.environ["MEDDL_DATA_DIR"]) if os.environ.get("MEDDL_DATA_DIR") else None)
    data = load_dataset("pubmedqa-lm", data_dir=data_dir, seed=args.seed)
    runs = {}
    for name, (loss_name, batch_size) in ARMS.items():
        runs[name] = train_arm(loss_name, batch_size, args.budget_seconds, data, args.seed)
        print(f"{name}: test perplexity {runs[name]['test_perplexity']:.1f}", flush=True)
    header = ["recipe", "steps", "training tokens", "test perplexity", "vs meddl"]
    best = runs["meddl: cross-entropy, batch 32"]["test_perplexity"]
    cells = [[name, f"{r['steps']:,}", f"{r['train_tokens']:,}", f"{r['test_perplexity']:.1f}",
              f"{r['test_perplexity'] / best:.2f}x"] for name, r in runs.items()]
    env = environment()
    vocab = next(iter(runs.values()))["vocab_size"]
    title = (f"lstm-lm on PubMedQA abstracts (vocabulary {vocab:,}, uniform guessing = perplexity {vocab:,}), "
             f"{args.budget_seconds:.0f} s of training per recipe; {describe(env)}")
    report_results("seed_rnn", title, header, cells, {"environment": env, "settings": arguments(args) | {
        "data_dir": str(data_dir)}, "runs": runs})


if __name__ == "__main__":
    main()
