"""Sequence classification as a `Task`: ECG beats (with RR features and the rhythm gate) and text passages
(single passages, or question + passage pairs with the learned answer prior), macro-F1 with bootstrap intervals over
records or documents, and the report."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from meddl.data.types import DatasetInfo, SignalSplits, TextSplits
from meddl.errors import DataError
from meddl.tasks.base import FitPlan, PlanContext, RunContext, SupervisedTask
from meddl.training.config import TrainConfig

# Recurrent networks occasionally take huge gradient steps (exploding gradients); clipping the global norm is the
# standard remedy (Pascanu et al. 2013; 0.25-1 in language-modelling practice).
GRADIENT_CLIP = 1.0
RUN_OUTPUTS = ("checkpoints", "logs", "figures", "report.html", "metrics.json", "predictions_test.csv",
               "manifest.json")


def schedule_arguments(config: TrainConfig) -> dict:
    """The optimiser and schedule hyper-parameters every `ScheduledModule` takes, from the config."""
    return {"dataset": config.dataset, "optimizer": config.optimizer, "lr": config.lr,
            "weight_decay": config.weight_decay, "schedule": config.schedule, "milestones": tuple(config.milestones),
            "gamma": config.gamma, "epochs": config.epochs, "seed": config.seed}


def check_trainable(data) -> None:
    """Training needs samples in train and val."""
    for split in ("train", "val"):
        if not data.size(split):
            raise DataError(f"{data.info.name}: the {split} split is empty; training needs samples in train and val")


class SequenceTask(SupervisedTask):
    name = "sequence"
    described = "an ECG or text classifier"
    default_for_data = True
    predicts_files = False
    outputs = RUN_OUTPUTS
    metric_keys = ("acc", "macro_f1", "weighted_f1", "n", "per_class", "confusion_matrix", "scored_labels", "ci")
    default_preset = "text"

    @property
    def module_class(self):
        from meddl.tasks.sequence.module import SequenceClassifier

        return SequenceClassifier

    def accepts(self, info: DatasetInfo) -> bool:
        return info.kind in ("ecg", "text") and info.task != "language-model"

    def plan(self, config: TrainConfig, data: SignalSplits | TextSplits, context: PlanContext) -> FitPlan:
        from meddl.data import batching as sd
        from meddl.tasks.sequence.module import SequenceClassifier
        from meddl.training.trainer import FitSettings, class_weights

        check_trainable(data)
        info = data.info
        weights = class_weights(data.labels["train"], "multi-class", info.n_classes) if config.class_weights else None
        train_args = {"batch_size": config.batch_size, "seed": config.seed, "num_workers": config.num_workers}
        settings = FitSettings.from_config(self.name, config, gradient_clip_val=GRADIENT_CLIP)
        if isinstance(data, SignalSplits):
            n_features = data.features["train"].shape[1] if data.features else 0
            boost = _beat_boost(data, config) if config.model == "ecg-boost" else None
            gate = None if boost else _rhythm_gate(data, config.seed)
            module = SequenceClassifier(
                model=config.model, kind="ecg", task=info.task, labels=list(info.labels),
                in_channels=data.signals["train"].shape[1],
                model_kwargs={"length": data.signals["train"].shape[2], "n_features": n_features,
                              **(boost.to_model_kwargs() if boost else {})},
                data_options=asdict(data.options), feature_names=tuple(data.feature_names),
                sampling_rate=float(data.sampling_rate), class_weights=weights,
                rhythm_gate=gate.to_dict() if gate else None, **schedule_arguments(config))
            if boost:
                module.net.load_fit(boost)
            return FitPlan(module, sd.loader(sd.signal_dataset(data, "train"), shuffle=True, **train_args),
                           sd.loader(sd.signal_dataset(data, "val"), config.batch_size, shuffle=False), settings)
        tokenizer = sd.build_tokenizer(data)
        max_tokens = data.options.max_tokens
        train_set = sd.text_dataset(data, "train", tokenizer, max_tokens)
        module = SequenceClassifier(
            model=config.model, kind="text", task=info.task, labels=list(info.labels),
            model_kwargs={"vocab_size": tokenizer.vocab_size, **_pair_kwargs(data)},
            tokenizer=tokenizer.to_dict(), data_options=asdict(data.options), class_weights=weights,
            **schedule_arguments(config))
        if getattr(module.net, "answer_prior", None) is not None:
            train_set = _fit_answer_prior(module, data, train_set, config.seed)
        # A passage-sequence model reads whole abstracts: batches of documents, not of passages.
        reads_documents = getattr(module.net, "reads_documents", False)
        make = sd.document_dataset if reads_documents else sd.text_dataset
        if reads_documents:
            train_set = sd.document_dataset(data, "train", tokenizer, max_tokens)
        return FitPlan(module, sd.loader(train_set, shuffle=True, **train_args),
                       sd.loader(make(data, "val", tokenizer, max_tokens), config.batch_size, shuffle=False), settings)

    def check_data(self, module, data) -> None:
        from meddl.tasks.sequence.evaluation import check_compatible

        check_compatible(module, data)

    def evaluate(self, module, data, output_dir: Path, run: RunContext):
        from meddl.tasks.sequence.evaluation import evaluate_sequences

        return evaluate_sequences(module, data, output_dir, checkpoint=run.checkpoint, config=run.config,
                                  history=run.history, started_at=run.started_at, best_epoch=run.best_epoch,
                                  extra=run.extra, split=run.split, n_bootstrap=run.n_bootstrap, seed=run.seed)

    def predict(self, module, data, split: str) -> np.ndarray:
        from meddl.tasks.sequence.evaluation import split_loader

        self.check_data(module, data)
        return module.predict_proba(split_loader(module, data, split))

    def example_data(self, seed: int = 0) -> TextSplits:
        """Short passages whose class is told by one word (results / methods), grouped by document."""
        from meddl.data.text import TextOptions

        rng = np.random.default_rng(seed)
        filler = "the of patients study in and were with".split()
        texts, labels, groups = {}, {}, {}
        for split, n in (("train", 64), ("val", 24), ("test", 24)):
            y = np.arange(n) % 2
            texts[split] = [" ".join([("results" if c else "methods"), *rng.choice(filler, 8)]) for c in y]
            labels[split], groups[split] = y.astype(np.int64), [f"{split}-doc{i // 2}" for i in range(n)]
        info = DatasetInfo(name="example-text", task="multi-class", n_channels=1, labels=("METHODS", "RESULTS"),
                           splits={s: len(y) for s, y in labels.items()}, license="synthetic", kind="text")
        return TextSplits(info=info, labels=labels, groups=groups, texts=texts,
                          options=TextOptions(min_freq=1, max_tokens=16))

    def example_config(self, dataset: str) -> TrainConfig:
        return self.make_config(dataset, preset="text", epochs=1, batch_size=16, bootstrap=20)



def _pair_kwargs(data: TextSplits) -> dict:
    """Question answering: question + passage pairs, with the learned answer prior (`meddl.models.answer_model`)."""
    from meddl.models.answer_model import AnswerFitSettings

    if not data.questions:
        return {}
    return {"pair": True, "answer_prior": {"tail_tokens": AnswerFitSettings().tail_tokens}}


def _fit_answer_prior(module, data: TextSplits, train_set, seed: int):
    """Fit the module's answer prior on the training questions as the model reads them (`train_set`: encoded and
    truncated as for training; nothing of val or test is read) and return the training set with each question's
    out-of-fold prior logits, for stacked training."""
    from meddl.models.answer_model import QATrainingSet, StackedTrainingSet, fit_answer_prior

    everything = train_set.__getitems__(range(len(train_set)))
    training = QATrainingSet(everything["tokens"], everything["lengths"], everything["question"],
                             everything["question_lengths"], everything["labels"].numpy(), list(data.groups["train"]))
    fit = fit_answer_prior(module.net.answer_prior, training, seed=seed)
    if fit.out_of_fold is None:  # too few questions per class for folds: the in-sample prior is the offset
        return train_set
    return StackedTrainingSet(train_set, fit.out_of_fold)


def _beat_boost(data: SignalSplits, config: TrainConfig):
    """The ecg-boost trees and their record-CV-chosen offsets, fitted on the training split alone."""
    from meddl.models.ecg_boost import fit_beat_boost

    if not data.features:
        raise DataError(f"{data.info.name}: model ecg-boost needs per-beat features; load with -O rr_features=true")
    return fit_beat_boost(data.features["train"], data.labels["train"], data.groups["train"],
                          tuple(data.feature_names), data.info.n_classes, seed=config.seed)


def _rhythm_gate(data: SignalSplits, seed: int):
    """The fitted N-vs-S rhythm gate when the loader options ask for one and the labels start N, S; else None."""
    from meddl.models.rhythm_gate import fit_rhythm_gate

    if not data.options.use_rhythm_gate or not data.features or list(data.info.labels[:2]) != ["N", "S"]:
        return None
    return fit_rhythm_gate(data.features["train"], data.labels["train"], data.groups["train"],
                           tuple(data.feature_names), seed=seed)  # fmt: skip
