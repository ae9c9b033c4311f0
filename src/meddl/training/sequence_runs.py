"""A whole training run for ECG or text: build the module and loaders, fit, reload the best checkpoint, evaluate.

The shared `fit_module` does the fitting (best checkpoint on the module's `val_selection`, resume, history), and
`meddl.evaluate.sequence_evaluation` writes metrics.json, predictions and report.html.
"""

from __future__ import annotations

import time
from pathlib import Path

from meddl.data.types import SignalSplits, TextSplits
from meddl.errors import DataError
from meddl.evaluate.evaluation import RunResult
from meddl.training.config import TrainConfig

# Recurrent networks occasionally take huge gradient steps (exploding gradients); clipping the global norm is the
# standard remedy (Pascanu et al. 2013; 0.25-1 in language-modelling practice).
GRADIENT_CLIP = 1.0


def _common(config: TrainConfig) -> dict:
    return {"dataset": config.dataset, "optimizer": config.optimizer, "lr": config.lr,
            "weight_decay": config.weight_decay, "schedule": config.schedule, "milestones": tuple(config.milestones),
            "gamma": config.gamma, "epochs": config.epochs, "seed": config.seed}


def build_run(config: TrainConfig, data: SignalSplits | TextSplits):
    """(module, train loader, val loader) for `data`, as `config` asks."""
    from meddl.training import sequence_data as sd
    from meddl.training.sequence_module import LanguageModel, SequenceClassifier
    from meddl.training.trainer import class_weights

    info = data.info
    for split in ("train", "val"):
        size = len(data.texts.get(split, [])) if isinstance(data, TextSplits) else len(data.labels.get(split, []))
        if not size:
            raise DataError(f"{info.name}: the {split} split is empty; training needs samples in train and val")
    weights = None
    if config.class_weights and info.task != "language-model":
        weights = class_weights(data.labels["train"], "multi-class", info.n_classes)
    train_args = {"batch_size": config.batch_size, "seed": config.seed, "num_workers": config.num_workers}
    if isinstance(data, SignalSplits):
        n_features = data.features["train"].shape[1] if data.features else 0
        gate = _rhythm_gate(data, config.seed)
        module = SequenceClassifier(
            model=config.model, kind="ecg", task=info.task, labels=list(info.labels),
            in_channels=data.signals["train"].shape[1],
            model_kwargs={"length": data.signals["train"].shape[2], "n_features": n_features},
            data_options=dict(data.options), feature_names=tuple(data.feature_names),
            sampling_rate=float(data.sampling_rate), class_weights=weights,
            rhythm_gate=gate.to_dict() if gate else None, **_common(config))
        return (module, sd.loader(sd.signal_dataset(data, "train"), shuffle=True, **train_args),
                sd.loader(sd.signal_dataset(data, "val"), config.batch_size, shuffle=False))
    tokenizer = sd.build_tokenizer(data)
    settings = sd.TextSettings.from_options(data.options, info.task == "language-model")
    if info.task == "language-model":
        module = LanguageModel(model=config.model, tokenizer=tokenizer.to_dict(), vocab_size=tokenizer.vocab_size,
                               pad_id=tokenizer.pad_id, data_options=dict(data.options), **_common(config))
        return (module, sd.loader(sd.chunk_dataset(data, "train", tokenizer, settings.max_tokens), shuffle=True,
                                  **train_args),
                sd.loader(sd.chunk_dataset(data, "val", tokenizer, settings.max_tokens), 64, shuffle=False))
    train_set = sd.text_dataset(data, "train", tokenizer, settings.max_tokens)
    module = SequenceClassifier(
        model=config.model, kind="text", task=info.task, labels=list(info.labels),
        model_kwargs={"vocab_size": tokenizer.vocab_size, **_pair_kwargs(data, train_set, tokenizer)},
        tokenizer=tokenizer.to_dict(), data_options=dict(data.options), class_weights=weights, **_common(config))
    return (module, sd.loader(train_set, shuffle=True, **train_args),
            sd.loader(sd.text_dataset(data, "val", tokenizer, settings.max_tokens), config.batch_size, shuffle=False))


def _pair_kwargs(data: TextSplits, train_set, tokenizer) -> dict:
    """Question answering: question + passage pairs, and the answer-cue prior fitted on the training passages as the
    model will read them (`train_set`: encoded and truncated as for training; `meddl.models.answer_cues`)."""
    from meddl.models.answer_cues import cue_ids, fit_answer_prior

    if not data.questions:
        return {}
    everything = train_set.__getitems__(range(len(train_set)))
    prior = fit_answer_prior(everything["tokens"], everything["lengths"], everything["labels"].numpy(),
                             cue_ids(tokenizer), tokenizer.vocab_size, data.info.n_classes)  # fmt: skip
    return {"pair": True, "answer_prior": prior}


def _rhythm_gate(data: SignalSplits, seed: int):
    """The fitted N-vs-S rhythm gate when the loader options ask for one and the labels start N, S; else None."""
    from meddl.data.ecg_options import EcgOptions
    from meddl.models.rhythm_gate import fit_rhythm_gate

    wanted = EcgOptions.parse(dict(data.options)).use_rhythm_gate
    if not wanted or not data.features or list(data.info.labels[:2]) != ["N", "S"]:
        return None
    return fit_rhythm_gate(data.features["train"], data.labels["train"], data.records["train"],
                           tuple(data.feature_names), seed=seed)  # fmt: skip


def train_sequences(
    config: TrainConfig,
    data: SignalSplits | TextSplits,
    output_dir: Path,
    resume: bool = False,
    callbacks: list | None = None,
    progress: bool = True,
    started_at: float | None = None,
) -> RunResult | None:
    """Train `config.model` on ECG beats or text, evaluate the best checkpoint on the test split, and write
    checkpoints, metrics.json, predictions_test.csv and report.html into `output_dir`."""
    import lightning as L

    from meddl.evaluate.sequence_evaluation import evaluate_sequences
    from meddl.training.checkpoints import load_checkpoint
    from meddl.training.trainer import fit_module

    started_at = time.perf_counter() if started_at is None else started_at
    L.seed_everything(config.seed, workers=True, verbose=False)
    module, train_loader, val_loader = build_run(config, data)
    result = fit_module(config, module, train_loader, val_loader, output_dir, resume=resume, callbacks=callbacks,
                        progress=progress, gradient_clip_val=GRADIENT_CLIP)
    if result.worker:  # a data-parallel worker process: rank 0 evaluates and writes
        return None
    best = load_checkpoint(result.best_checkpoint)
    return evaluate_sequences(
        best, data, output_dir, checkpoint=result.best_checkpoint, config=config.to_dict(), history=result.history,
        started_at=started_at, best_epoch=result.best_epoch,
        extra={"fit_seconds": round(result.fit_seconds, 2), "hardware": result.hardware},
        n_bootstrap=config.bootstrap, seed=config.seed)
