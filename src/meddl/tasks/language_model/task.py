"""Language modelling as a `Task`: an LSTM predicts the next token of PubMed abstracts; perplexity on the test
abstracts, generated samples in the report, and `meddl generate` for continuing a prompt."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from meddl.data.types import DatasetInfo, TextSplits
from meddl.tasks.base import FitPlan, PlanContext, RunContext, SupervisedTask
from meddl.tasks.sequence.task import GRADIENT_CLIP, RUN_OUTPUTS, check_trainable, schedule_arguments
from meddl.training.config import TrainConfig


class LanguageModelTask(SupervisedTask):
    name = "language-model"
    described = "a language model"
    default_for_data = True
    predicts_files = False
    outputs = tuple(name for name in RUN_OUTPUTS if name != "predictions_test.csv")
    metric_keys = ("perplexity", "cross_entropy", "tokens", "n")
    default_preset = "lm"

    @property
    def module_class(self):
        from meddl.tasks.language_model.module import LanguageModel

        return LanguageModel

    def accepts(self, info: DatasetInfo) -> bool:
        return info.kind == "text" and info.task == "language-model"

    def plan(self, config: TrainConfig, data: TextSplits, context: PlanContext) -> FitPlan:
        from meddl.data import batching as sd
        from meddl.tasks.language_model.module import LanguageModel
        from meddl.training.trainer import FitSettings

        check_trainable(data)
        tokenizer = sd.build_tokenizer(data)
        seq_len = data.options.max_tokens
        module = LanguageModel(model=config.model, tokenizer=tokenizer.to_dict(), vocab_size=tokenizer.vocab_size,
                               pad_id=tokenizer.pad_id, data_options=asdict(data.options), **schedule_arguments(config))
        train_loader = sd.loader(sd.chunk_dataset(data, "train", tokenizer, seq_len), shuffle=True,
                                 batch_size=config.batch_size, seed=config.seed, num_workers=config.num_workers)
        val_loader = sd.loader(sd.chunk_dataset(data, "val", tokenizer, seq_len), 64, shuffle=False)
        return FitPlan(module, train_loader, val_loader,
                       FitSettings.from_config(self.name, config, gradient_clip_val=GRADIENT_CLIP))

    def check_data(self, module, data) -> None:
        from meddl.tasks.language_model.evaluation import check_compatible

        check_compatible(module, data)

    def evaluate(self, module, data, output_dir: Path, run: RunContext):
        from meddl.tasks.language_model.evaluation import evaluate_language_model

        return evaluate_language_model(module, data, output_dir, checkpoint=run.checkpoint, config=run.config,
                                       history=run.history, started_at=run.started_at, best_epoch=run.best_epoch,
                                       extra=run.extra, split=run.split, seed=run.seed)

    def predict(self, module, data: TextSplits, split: str) -> np.ndarray:
        """Mean cross-entropy (nats per token) of each chunk of `split`'s token stream."""
        import torch

        from meddl.tasks.language_model.evaluation import split_loader

        self.check_data(module, data)
        module.eval()
        losses = []
        with torch.no_grad():
            for batch in split_loader(module, data, split):
                for tokens, targets in zip(batch["tokens"], batch["targets"]):
                    total, count = module.token_losses({"tokens": tokens[None], "targets": targets[None]})
                    losses.append(float(total) / max(int(count), 1))
        return np.asarray(losses)

    def example_data(self, seed: int = 0) -> TextSplits:
        """A few dozen short abstracts from a tiny vocabulary."""
        from meddl.data.text import TextOptions

        rng = np.random.default_rng(seed)
        words = "patients were treated with the drug and the outcome improved in most cases".split()
        texts = {split: [" ".join(rng.choice(words, 12)) for _ in range(n)]
                 for split, n in (("train", 48), ("val", 12), ("test", 12))}
        empty = {split: np.zeros(0, dtype=np.int64) for split in texts}
        groups = {split: [f"{split}-{i}" for i in range(len(items))] for split, items in texts.items()}
        info = DatasetInfo(name="example-abstracts", task="language-model", n_channels=1, labels=(),
                           splits={s: len(t) for s, t in texts.items()}, license="synthetic", kind="text")
        return TextSplits(info=info, labels=empty, groups=groups, texts=texts,
                          options=TextOptions(min_freq=1, max_tokens=16))

    def example_config(self, dataset: str) -> TrainConfig:
        return self.make_config(dataset, epochs=1, batch_size=8, bootstrap=20)
