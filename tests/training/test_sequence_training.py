"""Short real training runs of the sequence models through the public API: ECG beats (MIT-BIH), text sections and
question answering (PubMedQA), a language model; metrics.json contents, evaluation of a checkpoint, resume."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from helpers import SHARED_MEDMNIST

import meddl
import meddl.api
from meddl.cli import main
from meddl.data.tokenizer import Tokenizer
from meddl.errors import ConfigError, MeddlError
from meddl.tasks import load_model, task_for
from meddl.tasks.runner import train_on
from meddl.training.config import make_config

SHARED = SHARED_MEDMNIST.parent
FAST = dict(epochs=1, bootstrap=50, progress=False)
ECG_RECORDS = "209,106,100"  # DS1 209 (many S beats) and 106 (V beats) for train/val, DS2 100 for test
RUN_FILES = ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "report.html", "figures/training_curves.png",
             "metrics.json")


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    if not (SHARED / "mitdb" / "100.dat").is_file() or not (SHARED / "pubmedqa" / "ori_pqal.json").is_file():
        pytest.skip(f"shared MIT-BIH / PubMedQA data not found under {SHARED}")
    monkeypatch.setenv("MEDDL_DATA_DIR", str(SHARED))
    return SHARED


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_ecg_run_reports_se_ppv_f1_over_nsvf_with_record_level_intervals(shared_data, tmp_path):
    run = tmp_path / "ecg"
    meddl.train("mitdb", run, model="cnn1d", data_options={"records": ECG_RECORDS, "rr_features": True}, **FAST)
    metrics = _metrics(run)
    for name in (*RUN_FILES, "predictions_test.csv", "figures/confusion_matrix.png"):
        assert (run / name).is_file(), name
    test = metrics["test"]
    assert list(test["per_class"]) == ["N", "S", "V", "F"] and test["scored_labels"] == ["N", "S", "V", "F"]
    assert set(test["per_class"]["N"]) == {"sensitivity", "ppv", "f1", "support"}
    assert test["n"] == metrics["split_sizes"]["test"] == sum(row["support"] for row in test["per_class"].values())
    assert test["per_class"]["N"]["sensitivity"] > 0.5  # one epoch is enough to find the normal beats
    low, high = test["ci"]["acc"]
    assert low <= test["acc"] <= high
    # one record in the test split: resampling whole records gives the same record every time
    assert low == high == test["acc"]
    assert metrics["kind"] == "ecg" and metrics["model"] == "cnn1d" and metrics["epochs_run"] == 1
    assert metrics["config"]["data_options"]["records"] == ECG_RECORDS
    assert {"fit_seconds", "hardware", "history", "wall_time_s", "best_epoch", "val"} <= set(metrics)
    rows = (run / "predictions_test.csv").read_text().splitlines()
    assert rows[0].startswith("index,group,true,predicted,p_N") and len(rows) == test["n"] + 1
    assert all(row.split(",")[1] == "100" for row in rows[1:])
    module = load_model(run / "checkpoints" / "best.ckpt")[1]
    assert module.hparams.kind == "ecg"
    # 7 RR intervals + the rhythm and morphology features of meddl.data.ecg_features (morphology=true by default)
    assert module.hparams.model_kwargs["n_features"] == len(module.hparams.feature_names) == 45
    # the rhythm gate was fitted on the training beats and travels in the checkpoint and metrics.json
    assert module.rhythm_gate is not None and module.net.head.mlp[-1].out_features == 3
    assert metrics["rhythm_gate"] == module.hparams.rhythm_gate and 0 < metrics["rhythm_gate"]["threshold"] < 1
    # the report and metrics.json say what was evaluated: DS2 record 100, the gate's decisions, what was left out
    split, applied = metrics["evaluated_split"], metrics["rhythm_gate_applied"]
    assert split["records"] == ["100"] and split["scheme"] == "inter-patient" and split["n_samples"] == test["n"]
    assert applied["used"] and applied["n_beats"] == test["n"] and 0 < applied["beats_decided"] <= test["n"]
    assert metrics["left_out"]["paced_records"] == ["102", "104", "107", "217"]
    page = (run / "report.html").read_text()
    assert page.index("What was evaluated") < page.index("Test metrics")
    assert "DS2 (the records chosen by -O records)" in page and "It removes no beats" in page

    # `meddl evaluate` rebuilds the data from the checkpoint alone and finds the same figures
    assert main(["evaluate", str(run / "checkpoints" / "best.ckpt"), "--output-dir", str(tmp_path / "again"),
                 "--bootstrap", "20"]) == 0
    again = _metrics(tmp_path / "again")["test"]
    assert again["confusion_matrix"] == test["confusion_matrix"]


def test_text_sections_and_question_answering_train(shared_data, tmp_path):
    options = {"max_tokens": 32}
    sections = meddl.train("pubmedqa-sections", tmp_path / "sections", data_options=options, **FAST).metrics
    labels = sections["labels"]
    assert list(sections["test"]["per_class"]) == labels and len(labels) >= 4
    assert 1 / len(labels) < sections["test"]["acc"] <= 1  # better than guessing among the sections
    assert sections["model"] == "passage-bilstm" and sections["test"]["macro_f1"] is not None
    assert sections["evaluated_split"]["description"].startswith("the official PQA-L test half")
    qa = meddl.train("pubmedqa", tmp_path / "qa", data_options=options, **FAST).metrics
    assert qa["labels"] == ["yes", "no", "maybe"] and qa["test"]["n"] == qa["split_sizes"]["test"]
    module = load_model(tmp_path / "qa" / "checkpoints" / "best.ckpt")[1]
    assert module.hparams.model_kwargs["pair"] is True
    # the answer prior was fitted on the training questions, and its fitted buffers came back with the checkpoint
    assert module.net.answer_prior is not None and module.net.answer_prior.weight.abs().sum() > 0
    assert set(module.hparams.model_kwargs["answer_prior"]) == {"tail_tokens"}
    again = meddl.api.evaluate(tmp_path / "qa" / "checkpoints" / "best.ckpt", tmp_path / "qa-again", n_bootstrap=20)
    assert again.metrics["test"]["confusion_matrix"] == qa["test"]["confusion_matrix"]
    tokenizer = Tokenizer.from_dict(module.hparams.tokenizer)
    assert tokenizer.vocab_size == module.net.state_dict()[next(k for k in module.net.state_dict()
                                                               if "embed" in k)].shape[0]


def tiny_lm_data(level: str = "word", n_train: int = 16):
    """A few real PubMedQA abstracts as a language-modelling set: the whole set takes minutes per epoch on a CPU."""
    from meddl.data import load_dataset

    data = load_dataset("pubmedqa-lm", data_dir=SHARED, options={"tokenizer": level})
    sizes = {"train": n_train, "val": 3, "test": 3}
    return replace(data, texts={split: data.texts[split][:n] for split, n in sizes.items()},
                   groups={split: data.groups[split][:n] for split, n in sizes.items()})


def test_language_model_perplexity_counts_every_test_token(shared_data, tmp_path):
    data = tiny_lm_data()
    config = make_config("pubmedqa-lm", preset="lm", epochs=1, batch_size=16, bootstrap=0)
    result = train_on(task_for(data.info), config, data, tmp_path / "lm", progress=False)
    test = _metrics(tmp_path / "lm")["test"]
    module = load_model(result.checkpoint)[1]
    tokenizer = Tokenizer.from_dict(module.hparams.tokenizer)
    # every token after the first <bos>, <unk> and <eos> included
    assert test["tokens"] == sum(len(tokenizer.encode(t)) + 2 for t in data.texts["test"]) - 1
    assert test["perplexity"] == pytest.approx(np.exp(test["cross_entropy"]))
    assert 1 < test["perplexity"] < tokenizer.vocab_size * 2
    assert module.hparams.kind == "language-model"
    samples = result.metrics["samples"]
    assert len(samples) == 3 and all(s["text"].startswith(s["prompt"].lower().split()[0]) for s in samples)
    assert "Generated samples" in (tmp_path / "lm" / "report.html").read_text()
    split = result.metrics["evaluated_split"]  # the report says which texts the perplexity is over
    assert split["name"] == "test" and split["n_samples"] == len(data.texts["test"])
    assert html.escape(split["description"]) in (tmp_path / "lm" / "report.html").read_text()


class _StopAtEpoch(L.Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_resumed_ecg_run_ends_with_the_weights_of_an_uninterrupted_one(shared_data, tmp_path):
    options = dict(model="cnn-lstm", data_options={"records": "100", "split": "intra-patient"}, epochs=3,
                   batch_size=256, bootstrap=20, progress=False)
    meddl.train("mitdb", tmp_path / "straight", **options)
    with pytest.raises(RuntimeError, match="simulated crash"):
        meddl.train("mitdb", tmp_path / "resumed", callbacks=[_StopAtEpoch(2)], **options)
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    meddl.train("mitdb", tmp_path / "resumed", resume=True, **options)
    straight = load_model(tmp_path / "straight" / "checkpoints" / "last.ckpt")[1].state_dict()
    resumed = load_model(tmp_path / "resumed" / "checkpoints" / "last.ckpt")[1].state_dict()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    assert len(_metrics(tmp_path / "resumed")["history"]) == 3
    # intra-patient: the network has seen these patients' S beats, so no rhythm gate by default
    module = load_model(tmp_path / "resumed" / "checkpoints" / "last.ckpt")[1]
    assert module.rhythm_gate is None and module.net.head.mlp[-1].out_features == 4
    assert "rhythm_gate" not in _metrics(tmp_path / "resumed")
    assert "intra-patient split" in _metrics(tmp_path / "resumed")["rhythm_gate_applied"]["description"]


def test_checkpoint_of_the_wrong_kind_is_a_clear_error(tmp_path, capsys):
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(MeddlError, match="not a meddl checkpoint"):
        load_model(tmp_path / "other.ckpt")[1]
    ecg = {"hyper_parameters": {"model": "cnn1d", "kind": "ecg", "task": "multi-class", "labels": ["N"]},
           "state_dict": {}}
    torch.save(ecg, tmp_path / "ecg.ckpt")
    assert main(["predict", str(tmp_path / "ecg.ckpt"), str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "holds an ECG or text classifier; meddl predict takes an image classifier" in error
    assert main(["export", str(tmp_path / "ecg.ckpt")]) == 2
    assert "holds an ECG or text classifier; this command takes an image classifier" in capsys.readouterr().err


def test_a_users_wfdb_folder_and_rct_folder_train_by_path(shared_data, tmp_path):
    """The README's own-data commands: a folder of WFDB records, and PubMed RCT-format train/dev/test files."""
    import os

    records = tmp_path / "records"
    records.mkdir()
    for name in ("100", "106"):  # fewer than 5 records: split by beats
        for ext in ("hea", "dat", "atr"):
            os.symlink(shared_data / "mitdb" / f"{name}.{ext}", records / f"{name}.{ext}")
    ecg = meddl.train(str(records), tmp_path / "ecg", model="cnn1d", **FAST).metrics
    assert ecg["kind"] == "ecg" and ecg["model"] == "cnn1d"
    assert set(ecg["test"]["per_class"]) == {"N", "S", "V", "F"} and ecg["test"]["n"] > 500

    abstracts = json.loads((shared_data / "pubmedqa" / "ori_pqal.json").read_text())
    rct = tmp_path / "rct"
    rct.mkdir()
    items = list(abstracts.items())
    for name, part in (("train", items[:120]), ("dev", items[120:140]), ("test", items[140:170])):
        lines = []
        for pmid, entry in part:
            lines.append(f"###{pmid}")
            lines += [f"{label}\t{text}" for label, text in zip(entry["LABELS"], entry["CONTEXTS"])]
            lines.append("")
        (rct / f"{name}.txt").write_text("\n".join(lines), encoding="utf-8")
    text = meddl.train(str(rct), tmp_path / "text", data_options={"max_tokens": 32}, **FAST).metrics
    assert text["kind"] == "text" and text["model"] == "passage-bilstm"  # sentences of an abstract labelled together
    assert text["split_sizes"]["test"] == text["test"]["n"] == sum(len(e["CONTEXTS"]) for _, e in items[140:170])
    # a text model on the ECG folder: the options it was trained with do not fit; one line says so
    with pytest.raises(ConfigError, match="cannot be read the way .* was trained on"):
        meddl.api.evaluate(text["checkpoint"], tmp_path / "cross", dataset=str(records))
