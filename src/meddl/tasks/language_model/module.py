"""The Lightning module for language modelling: science only (next-token loss, validation perplexity, optimiser).

Its saved hyper-parameters (model, tokenizer, vocabulary size, data options) are all a checkpoint needs to rebuild
the module, without the dataset.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from meddl.models import create
from meddl.training import distributed
from meddl.training.scheduled import ScheduledModule


class LanguageModel(ScheduledModule):
    """A registered next-token model (e.g. `lstm-lm`) over the vocabulary of `tokenizer` (a `Tokenizer.to_dict()`).

    Model selection is on validation perplexity (`val_selection` = -perplexity, higher is better); the loss ignores
    padding, so perplexity is over real tokens only.
    """

    def __init__(
        self,
        model: str,
        tokenizer: dict,
        vocab_size: int,
        pad_id: int = 0,
        model_kwargs: dict | None = None,
        kind: str = "language-model",
        task: str = "language-model",
        dataset: str = "",
        data_options: dict | None = None,
        optimizer: str = "adamw",
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        schedule: str = "cosine",
        milestones: tuple[int, ...] = (),
        gamma: float = 0.1,
        epochs: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = create(model, 1, vocab_size, vocab_size=vocab_size, **(model_kwargs or {}))
        self._val_sum = self._val_count = 0.0

    def token_losses(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropy over the real (non-padding) targets of a batch, and how many there were."""
        logits, _ = self.net(batch["tokens"], state=None)
        targets = batch["targets"]
        total = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                ignore_index=self.hparams.pad_id, reduction="sum")
        return total, (targets != self.hparams.pad_id).sum()

    def training_step(self, batch: dict, batch_idx: int):
        self._seed_step(batch_idx)
        total, count = self.token_losses(batch)
        loss = total / count.clamp_min(1)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=int(count),
                 sync_dist=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int):
        total, count = self.token_losses(batch)
        self._val_sum += float(total)
        self._val_count += float(count)

    def on_validation_epoch_end(self) -> None:
        cross_entropy = (distributed.total(self, self._val_sum)
                         / max(distributed.total(self, self._val_count), 1.0))
        self._val_sum = self._val_count = 0.0
        perplexity = math.exp(min(cross_entropy, 50.0))
        # summed over every process first, so these are the same on each
        self.log("val_loss", cross_entropy, sync_dist=True)
        self.log("val_perplexity", perplexity, prog_bar=True, sync_dist=True)
        self.log("val_selection", -perplexity, sync_dist=True)

    @torch.no_grad()
    def cross_entropy(self, loader) -> tuple[float, int]:
        """Mean cross-entropy (nats per token) over every real target token of `loader`, and the token count."""
        self.eval()
        total, count = 0.0, 0
        for batch in loader:
            batch_total, batch_count = self.token_losses({k: v.to(self.device) for k, v in batch.items()})
            total, count = total + float(batch_total), count + int(batch_count)
        return total / max(count, 1), count
