"""The Lightning module for sequence classification: science only (model, loss, validation metrics, optimiser).

`SequenceClassifier` classifies ECG beats or text (single passages, or question + context pairs). Its saved
hyper-parameters (kind, model, labels, tokenizer, leads, beat length, features, data options) are all a checkpoint
needs to rebuild the module, without the dataset.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from meddl.models import create
from meddl.models.rhythm_gate import RhythmGate
from meddl.training import distributed
from meddl.training.scheduled import ScheduledModule

# ECG: Q (unclassifiable) beats are scored by no study we compare with (AAMI EC57 / de Chazal 2004).
UNSCORED_LABELS = ("Q",)


def scored_labels(kind: str, labels: list[str]) -> list[str]:
    """The classes macro-F1 averages over: all of them, except Q for ECG."""
    return [name for name in labels if not (kind == "ecg" and name in UNSCORED_LABELS)]


class SequenceClassifier(ScheduledModule):
    """A registered ECG or text model trained for multi-class classification.

    `kind` is "ecg" (batches of beats and optional RR features) or "text" (token ids; with `pair=True` in
    `model_kwargs`, a question beside each passage; for a model that `reads_documents`, whole abstracts).
    `model_kwargs` are the extra build arguments (ECG: length, n_features; text: vocab_size, pair). `rhythm_gate`
    (ECG): a `RhythmGateFit.to_dict()` that splits the network's supraventricular output into N and S by RR intervals
    (see `meddl.models.rhythm_gate`). Model selection (`val_selection`) is macro-F1 over the scored classes.
    """

    def __init__(
        self,
        model: str,
        kind: str,
        task: str,
        labels: list[str],
        in_channels: int = 1,
        model_kwargs: dict | None = None,
        tokenizer: dict | None = None,
        dataset: str = "",
        data_options: dict | None = None,
        feature_names: tuple[str, ...] = (),
        sampling_rate: float | None = None,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "cosine",
        milestones: tuple[int, ...] = (),
        gamma: float = 0.1,
        epochs: int = 1,
        seed: int = 0,
        class_weights: list[float] | None = None,
        rhythm_gate: dict | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        # With a rhythm gate (ECG, labels N, S, ...) the network has one output for N and S together.
        outputs = len(labels) - 1 if rhythm_gate else len(labels)
        self.net = create(model, in_channels, outputs, **(model_kwargs or {}))
        self.rhythm_gate = RhythmGate(**rhythm_gate) if rhythm_gate else None
        weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        self._val_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, batch: dict) -> torch.Tensor:
        """Logits (B, K) for a batch as the sequence loaders make it."""
        if self.hparams.kind == "ecg":
            logits = self.net(batch["signals"], features=batch["features"])
            return logits if self.rhythm_gate is None else self.rhythm_gate(logits, batch["features"])
        if "documents" in batch:
            return self.net(batch["tokens"], lengths=batch["lengths"], positions=batch["positions"],
                            documents=batch["documents"])
        if "question" in batch:
            # training batches of question answering carry the answer prior's out-of-fold logits (stacking)
            stacked = {"prior_logits": batch["prior_logits"]} if batch.get("prior_logits") is not None else {}
            return self.net(batch["tokens"], lengths=batch["lengths"], question=batch["question"],
                            question_lengths=batch["question_lengths"], **stacked)
        return self.net(batch["tokens"], lengths=batch["lengths"])

    def training_step(self, batch: dict, batch_idx: int):
        self._seed_step(batch_idx)
        loss = F.cross_entropy(self(batch).float(), batch["labels"], weight=self.class_weights)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["labels"]),
                 sync_dist=True)
        return loss

    def validation_step(self, batch: dict, batch_idx: int):
        logits = self(batch).float()
        loss = F.cross_entropy(logits, batch["labels"], weight=self.class_weights)
        self.log("val_loss", loss, on_epoch=True, batch_size=len(batch["labels"]), sync_dist=True)
        self._val_outputs.append((logits.argmax(dim=1).cpu(), batch["labels"].cpu()))

    def on_validation_epoch_end(self) -> None:
        from sklearn.metrics import accuracy_score, f1_score

        predicted = distributed.gather(self, torch.cat([p for p, _ in self._val_outputs]).to(self.device)).cpu().numpy()
        truth = distributed.gather(self, torch.cat([y for _, y in self._val_outputs]).to(self.device)).cpu().numpy()
        self._val_outputs.clear()
        labels = list(self.hparams.labels)
        scored = [labels.index(name) for name in scored_labels(self.hparams.kind, labels)]
        macro_f1 = f1_score(truth, predicted, labels=scored, average="macro", zero_division=0)
        # figures from the gathered predictions are the same on every process
        self.log("val_acc", float(accuracy_score(truth, predicted)), prog_bar=True, sync_dist=True)
        self.log("val_macro_f1", float(macro_f1), prog_bar=True, sync_dist=True)
        self.log("val_selection", float(macro_f1), sync_dist=True)

    @torch.no_grad()
    def predict_proba(self, loader) -> np.ndarray:
        """Class probabilities (N, K) for every batch of `loader`, in the split's order (batches of whole documents
        say where each row goes: `rows`), in evaluation mode."""
        self.eval()
        outputs, rows = [], []
        for batch in loader:
            batch = {key: None if value is None else value.to(self.device) for key, value in batch.items()}
            outputs.append(torch.softmax(self(batch).float(), dim=1).cpu())
            rows.append(batch["rows"].cpu() if "rows" in batch else None)
        probabilities = torch.cat(outputs)
        if rows and rows[0] is not None:
            probabilities[torch.cat(rows)] = probabilities.clone()
        return probabilities.numpy()
