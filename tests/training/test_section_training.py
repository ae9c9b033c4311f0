"""A short real run of passage-bilstm (the section-labelling default) through `meddl.api.train` on a tiny RCT-format
corpus: whole abstracts in, one prediction per sentence out in the file's order, and a checkpoint that the safe
loader reopens and that predicts the same."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import meddl
from meddl.data import load_dataset
from meddl.tasks import get_task, load_model

SECTIONS = {"OBJECTIVE": "to test whether {} helps", "METHODS": "we randomised {} adults to drug or placebo",
            "RESULTS": "mortality fell in {} of them", "CONCLUSIONS": "drug {} works and is safe"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def write_rct(folder, n: dict[str, int]) -> None:
    """Abstracts of 3-5 sentences (a varying number of METHODS ones), ids in the order written."""
    folder.mkdir()
    for split, count in n.items():
        lines = []
        for i in range(count):
            lines.append(f"###{split}{i}")
            order = ["OBJECTIVE"] + ["METHODS"] * (1 + i % 3) + ["RESULTS", "CONCLUSIONS"]
            lines += [f"{label}\t{SECTIONS[label].format(i)}" for label in order[: 3 + i % 3]] + [""]
        (folder / f"{split}.txt").write_text("\n".join(lines))


def test_passage_bilstm_trains_reloads_safely_and_predicts_in_the_files_order(tmp_path):
    corpus = tmp_path / "rct"
    write_rct(corpus, {"train": 24, "dev": 6, "test": 8})
    run = meddl.train(str(corpus), tmp_path / "run", model="passage-bilstm", preset="sections", epochs=2,
                      bootstrap=20, progress=False, data_options={"min_freq": 1})
    metrics = run.metrics
    assert metrics["model"] == "passage-bilstm" and metrics["config"]["preset"] == "sections"
    data = load_dataset(str(corpus), options={"min_freq": 1})
    assert metrics["test"]["n"] == len(data.texts["test"])
    rows = list(csv.DictReader((tmp_path / "run" / "predictions_test.csv").open()))
    assert [r["group"] for r in rows] == data.groups["test"]  # one row per sentence, in the file's order
    assert [r["true"] for r in rows] == [data.info.labels[y] for y in data.labels["test"]]

    # the checkpoint opens with torch.load(weights_only=True) and predicts what the run wrote
    raw = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert raw["hyper_parameters"]["model"] == "passage-bilstm"
    task, module = load_model(tmp_path / "run" / "checkpoints" / "best.ckpt")
    probabilities = task.predict(module, data, "test")
    written = np.array([[float(r[f"p_{name}"]) for name in data.info.labels] for r in rows])
    np.testing.assert_allclose(probabilities, written, atol=1e-5)
    # shuffling the documents of the split moves no prediction: rows come back in the split's order
    permuted = get_task("sequence").predict(module, _documents_reversed(data), "test")
    order = _reversed_order(data.groups["test"])
    np.testing.assert_allclose(permuted, probabilities[order], atol=1e-5)


def _reversed_order(groups: list[str]) -> list[int]:
    documents: dict[str, list[int]] = {}
    for row, group in enumerate(groups):
        documents.setdefault(group, []).append(row)
    return [row for rows in reversed(list(documents.values())) for row in rows]


def _documents_reversed(data):
    """The same test split with its abstracts in reverse order (each abstract's sentences kept in order)."""
    from dataclasses import replace

    order = _reversed_order(data.groups["test"])
    pick = lambda values: [values[i] for i in order]  # noqa: E731
    return replace(data, texts={**data.texts, "test": pick(data.texts["test"])},
                   labels={**data.labels, "test": data.labels["test"][order]},
                   groups={**data.groups, "test": pick(data.groups["test"])}, positions={})
