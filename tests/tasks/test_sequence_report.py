"""What an ECG/text evaluation says it was run on (`meddl.tasks.sequence.provenance`): the split by name, records
and sizes, what the ECG loader left out, what the rhythm gate did; on real MIT-BIH records and PubMedQA, and
through the whole evaluation to metrics.json and report.html."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import SHARED_DATA

from meddl.data import load_dataset
from meddl.tasks.sequence.provenance import left_out, rhythm_gate_applied, split_facts


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    if not (SHARED_DATA / "mitdb" / "100.dat").is_file() or not (SHARED_DATA / "pubmedqa" / "ori_pqal.json").is_file():
        pytest.skip(f"shared MIT-BIH / PubMedQA data not found under {SHARED_DATA}")
    monkeypatch.setenv("MEDDL_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA


def test_ecg_test_split_is_named_ds2_with_its_records_and_beats(shared_data):
    data = load_dataset("mitdb", options={"records": "209,106,100,103"})
    test = split_facts(data, "test")
    assert test.scheme == "inter-patient" and test.records == ("100", "103") and test.n_groups == 2
    assert test.n_samples == data.size("test") and test.sample_unit == "beats"
    assert test.description.startswith("DS2 (the records chosen by -O records), inter-patient (de Chazal")
    assert test.description.endswith(f"records 100, 103 (2 records, {data.size('test'):,} beats)")
    assert split_facts(data, "val").description.startswith("validation records drawn from DS1")
    assert json.loads(json.dumps(test.to_dict()))["records"] == ["100", "103"]
    dropped = left_out(data)
    assert dropped["paced_records"] == ["102", "104", "107", "217"] and dropped["classes"] == ["Q"]
    assert dropped["edge_window_s"] == [0.25, 0.45] and "Q beats" in dropped["description"]


def test_intra_patient_split_says_every_patient_is_in_every_split(shared_data):
    data = load_dataset("mitdb", options={"records": "100", "split": "intra-patient", "include_q": True})
    test = split_facts(data, "test")
    assert test.scheme == "intra-patient" and "a stratified 20% of the beats of every record" in test.description
    assert "every patient is in every split" in test.description and test.description.count("record 100 ") == 1
    assert left_out(data)["classes"] == [] and "Q beats" not in left_out(data)["description"]


def test_text_splits_name_the_official_pubmedqa_test_half(shared_data):
    data = load_dataset("pubmedqa-sections")
    test = split_facts(data, "test")
    assert test.scheme == "official" and test.group_unit == "abstract" and test.sample_unit == "passages"
    assert test.n_groups == 500 and test.n_samples == data.size("test") and test.records == ()
    assert test.description == (f"the official PQA-L test half, the PMIDs of test_ground_truth.json (500 abstracts, "
                                f"{data.size('test'):,} passages)")
    qa = split_facts(load_dataset("pubmedqa"), "val")
    assert qa.sample_unit == "questions" and qa.description.startswith("a seeded 10% of the other PQA-L abstracts")


def test_rhythm_gate_states_what_it_decided_and_why_it_was_off():
    labels = ["N", "S", "V", "F"]
    fit = {"weight": [0.0] * 7, "bias": 0.0, "threshold": 0.35, "cv_sensitivity": 0.8, "cv_ppv": 0.4, "cv_f1": 0.53,
           "folds": 5, "grouped_by": "record"}
    predicted = np.array([0, 0, 1, 2, 3, 1, 0])
    used = rhythm_gate_applied({"rhythm_gate": fit, "data_options": {"split": "inter-patient"}}, labels, predicted)
    assert used["used"] and (used["beats_decided"], used["beats_called_s"], used["n_beats"]) == (5, 2, 7)
    assert "It removes no beats: on this split it decided 5 of 7 beats" in used["description"]
    assert "threshold 0.35 chosen by 5-fold cross-validation grouped by record" in used["description"]
    intra = rhythm_gate_applied({"data_options": {"split": "intra-patient", "rhythm_gate": None}}, labels, predicted)
    assert not intra["used"] and "default for an intra-patient split" in intra["description"]
    off = rhythm_gate_applied({"data_options": {"split": "inter-patient", "rhythm_gate": False}}, labels, predicted)
    assert "-O rhythm_gate=false" in off["description"]
    unfitted = rhythm_gate_applied({"data_options": {"split": "inter-patient", "rhythm_gate": None}}, labels,
                                   predicted)
    assert "on by default for this split but not fitted" in unfitted["description"]


def test_text_evaluation_writes_the_split_into_metrics_and_report(tmp_path):
    """The sequence task's own example data, trained and evaluated end to end (seconds)."""
    from meddl.tasks import get_task
    from meddl.tasks.runner import train_on

    task = get_task("sequence")
    data = task.example_data(seed=0)
    run = train_on(task, task.example_config(data.info.name), data, tmp_path / "run", progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    split = metrics["evaluated_split"]
    assert split["name"] == "test" and split["n_samples"] == data.size("test") == 24 and split["n_groups"] == 12
    assert split["description"] == "split 'test', by document (12 documents, 24 passages)"
    assert "rhythm_gate_applied" not in metrics and "left_out" not in metrics
    page = run.report.read_text()
    assert page.index("What was evaluated") < page.index("Test metrics")
    assert "split &#x27;test&#x27;, by document (12 documents, 24 passages)" in page


def test_rct_corpora_name_their_own_files_or_the_seeded_share(tmp_path):
    from meddl.data.text import load_rct

    def write(path, abstracts):
        lines = []
        for index in abstracts:
            lines += [f"###{index}", "METHODS\tpatients were randomised", "RESULTS\tmortality fell", ""]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    folder = tmp_path / "rct"
    folder.mkdir()
    for name, ids in (("train", range(0, 6)), ("dev", range(6, 8)), ("test", range(8, 11))):
        write(folder / f"{name}.txt", ids)
    data = load_rct(folder)
    assert split_facts(data, "test").description == f"test.txt of {folder} (3 abstracts, 6 sentences)"
    assert split_facts(data, "val").description.startswith(f"dev.txt of {folder}")
    single = load_rct(write(tmp_path / "all.txt", range(20)))
    test = split_facts(single, "test")
    assert test.scheme == "seeded, by abstract" and test.n_groups == 4 and test.sample_unit == "sentences"
    assert test.description == f"a seeded 20% of the abstracts of {tmp_path / 'all.txt'} (4 abstracts, 8 sentences)"
